/*
 * Read-only file mappings for the weight loaders (src/runtime/mapped-file.ts).
 *
 *   mapOpen(path) -> [handle, size]   mmap(PROT_READ, MAP_SHARED) of the whole file
 *   mapView(handle, offset, length) -> ArrayBuffer over bytes [offset, offset + length) of it
 *   exponentScan(words, mask) -> index of the first Uint16Array/Uint32Array element whose bits
 *                                `mask` are all set (f16/bf16/f32 Inf or NaN), or -1
 *
 * The file is mapped once, at any size; each tensor gets its own external ArrayBuffer over its
 * range of the mapping. That is what lets a file larger than one ArrayBuffer may be (4 GiB on
 * Node 20: a 7B f16 GGUF is 13 GB) be mapped all the same: only each tensor must fit. The bytes
 * are the page cache's, nothing is copied, pages are read when first touched, and a second
 * process mapping the same file shares the same physical pages.
 *
 * Lifetime: the mapping counts its owners, the handle and every view; each finalizer (all run
 * on the JS thread) drops one, and the last one unmaps. The memory is read-only: a write
 * through a view would fault, so the loaders hand these views only to code that reads weights.
 * Only regular files are mapped (a FIFO or device is refused); an empty file has no mapping,
 * and a view of 0 bytes is an ordinary empty ArrayBuffer (mmap of 0 bytes is an error).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <node_api.h>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define LT_HAVE_MMAP 1
#endif

#ifdef LT_HAVE_MMAP
typedef struct {
  void *addr; /* NULL for an empty file */
  size_t len;
  size_t owners;
} lt_mapping;

static void mapping_release(lt_mapping *m) {
  if (--m->owners > 0) return;
  if (m->addr) munmap(m->addr, m->len);
  free(m);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  mapping_release(data);
}

static void view_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  mapping_release(hint);
}

/* The message names the step and the system's reason; the caller adds the path. */
static napi_value map_fail(napi_env env, const char *what, int err) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, buf);
  return NULL;
}

static napi_value js_map_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = 1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "mapOpen: expected a path");
    return NULL;
  }
  char path[4096];
  size_t plen = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen) != napi_ok || plen + 1 >= sizeof path) {
    napi_throw_type_error(env, NULL, "mapOpen: the path must be a string shorter than 4096 bytes");
    return NULL;
  }
  const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return map_fail(env, "cannot open", errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    return map_fail(env, "cannot stat", e);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return map_fail(env, "not a regular file", EINVAL);
  }
  const size_t len = (size_t)st.st_size;
  void *addr = NULL;
  if (len > 0) {
    int flags = MAP_SHARED;
#ifdef MAP_POPULATE
    /* Fill the page tables now, in one call (as llama.cpp does): the loader scans every weight
       for Inf/NaN next, and one fault per 4 KiB page costs more than the scan itself. */
    flags |= MAP_POPULATE;
#endif
    addr = mmap(NULL, len, PROT_READ, flags, fd, 0);
    const int e = errno;
    close(fd); /* the mapping keeps the file */
    if (addr == MAP_FAILED) return map_fail(env, "cannot map", e);
  } else {
    close(fd);
  }
  lt_mapping *m = malloc(sizeof *m);
  if (!m) {
    if (addr) munmap(addr, len);
    napi_throw_error(env, NULL, "mapOpen: out of memory");
    return NULL;
  }
  m->addr = addr;
  m->len = len;
  m->owners = 1;
  napi_value handle, size, pair;
  if (napi_create_external(env, m, handle_finalize, NULL, &handle) != napi_ok) {
    mapping_release(m);
    napi_throw_error(env, NULL, "mapOpen: cannot create the handle");
    return NULL;
  }
  napi_create_double(env, (double)len, &size);
  napi_create_array_with_length(env, 2, &pair);
  napi_set_element(env, pair, 0, handle);
  napi_set_element(env, pair, 1, size);
  return pair;
}

static napi_value js_map_view(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = 3;
  void *data = NULL;
  int64_t off = -1, n = -1;
  napi_valuetype kind;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_typeof(env, argv[0], &kind) != napi_ok || kind != napi_external ||
      napi_get_value_external(env, argv[0], &data) != napi_ok ||
      napi_get_value_int64(env, argv[1], &off) != napi_ok || napi_get_value_int64(env, argv[2], &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "mapView(handle, offset: number, length: number)");
    return NULL;
  }
  lt_mapping *m = data;
  if (off < 0 || n < 0 || (uint64_t)off > m->len || (uint64_t)n > m->len - (uint64_t)off) {
    napi_throw_range_error(env, NULL, "mapView: the range is outside the mapped file");
    return NULL;
  }
  napi_value ab;
  if (n == 0) {
    void *unused;
    if (napi_create_arraybuffer(env, 0, &unused, &ab) != napi_ok) return NULL;
    return ab;
  }
  m->owners++;
  if (napi_create_external_arraybuffer(env, (char *)m->addr + off, (size_t)n, view_finalize, m, &ab) != napi_ok) {
    /* No release here: when V8 refuses the buffer (e.g. longer than its largest ArrayBuffer)
       it has already run view_finalize on it; the JS side asks only for ranges that fit. */
    napi_throw_error(env, NULL, "mapView: this runtime did not accept the range as an ArrayBuffer");
    return NULL;
  }
  return ab;
}
#endif

/* The load-time finiteness scan of f16/bf16/f32 weights (formats/gguf-model.ts checkTensorFinite). */
static napi_value js_exponent_scan(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t argc = 2;
  napi_typedarray_type type;
  size_t n = 0, off = 0;
  void *data = NULL;
  napi_value ab;
  uint32_t mask = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_typedarray_info(env, argv[0], &type, &n, &data, &ab, &off) != napi_ok ||
      (type != napi_uint16_array && type != napi_uint32_array) || napi_get_value_uint32(env, argv[1], &mask) != napi_ok) {
    napi_throw_type_error(env, NULL, "exponentScan(words: Uint16Array | Uint32Array, mask: number)");
    return NULL;
  }
  int64_t at = -1;
  if (type == napi_uint16_array) {
    const uint16_t *w = data, m = (uint16_t)mask;
    size_t i = 0;
    /* blocks of 64 values without an early exit vectorise; the exact index is found after */
    for (; i + 64 <= n && at < 0; i += 64) {
      int any = 0;
      for (size_t j = 0; j < 64; j++) any |= (w[i + j] & m) == m;
      if (any) break;
    }
    for (; i < n; i++)
      if ((w[i] & m) == m) {
        at = (int64_t)i;
        break;
      }
  } else {
    const uint32_t *w = data;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
      int any = 0;
      for (size_t j = 0; j < 64; j++) any |= (w[i + j] & mask) == mask;
      if (any) break;
    }
    for (; i < n; i++)
      if ((w[i] & mask) == mask) {
        at = (int64_t)i;
        break;
      }
  }
  napi_value r;
  napi_create_int64(env, at, &r);
  return r;
}

napi_status lt_mmap_register(napi_env env, napi_value exports) {
#ifdef LT_HAVE_MMAP
  napi_property_descriptor props[] = {
    {"mapOpen", NULL, js_map_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mapView", NULL, js_map_view, NULL, NULL, NULL, napi_enumerable, NULL},
    {"exponentScan", NULL, js_exponent_scan, NULL, NULL, NULL, napi_enumerable, NULL},
  };
#else
  napi_property_descriptor props[] = {
    {"exponentScan", NULL, js_exponent_scan, NULL, NULL, NULL, napi_enumerable, NULL},
  };
#endif
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
