/*
 * Read-only file mappings for the weight loaders (src/runtime/mapped-file.ts).
 *
 *   mapFile(path) -> ArrayBuffer over mmap(PROT_READ, MAP_SHARED) of the whole file
 *   exponentScan(words, mask) -> index of the first Uint16Array/Uint32Array element whose bits
 *                                `mask` are all set (f16/bf16/f32 Inf or NaN), or -1
 *
 * The ArrayBuffer is external: its bytes are the page cache's, nothing is copied, pages are read
 * when first touched, and a second process mapping the same file shares the same physical pages.
 * The mapping is removed (munmap) by the buffer's finalizer, once no typed array refers to it.
 * The memory is read-only: a write through a view would fault, so the loaders hand these views
 * only to code that reads weights. Only regular files are mapped (a FIFO or device is refused);
 * an empty file gives an ordinary empty ArrayBuffer (mmap of 0 bytes is an error).
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
  void *addr;
  size_t len;
} lt_mapping;

static void unmap_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  lt_mapping *m = hint;
  munmap(m->addr, m->len);
  free(m);
}

/* The message names the step and the system's reason; the caller adds the path. */
static napi_value map_fail(napi_env env, const char *what, int err) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, buf);
  return NULL;
}

static napi_value js_map_file(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = 1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "mapFile: expected a path");
    return NULL;
  }
  char path[4096];
  size_t plen = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen) != napi_ok || plen + 1 >= sizeof path) {
    napi_throw_type_error(env, NULL, "mapFile: the path must be a string shorter than 4096 bytes");
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
  napi_value ab;
  const size_t len = (size_t)st.st_size;
  if (len == 0) {
    close(fd);
    void *unused;
    if (napi_create_arraybuffer(env, 0, &unused, &ab) != napi_ok) return NULL;
    return ab;
  }
  int flags = MAP_SHARED;
#ifdef MAP_POPULATE
  /* Fill the page tables now, in one call (as llama.cpp does): the loader scans every weight
     for Inf/NaN next, and one fault per 4 KiB page costs more than the scan itself. */
  flags |= MAP_POPULATE;
#endif
  void *addr = mmap(NULL, len, PROT_READ, flags, fd, 0);
  const int e = errno;
  close(fd); /* the mapping keeps the file */
  if (addr == MAP_FAILED) return map_fail(env, "cannot map", e);
  lt_mapping *m = malloc(sizeof *m);
  if (!m) {
    munmap(addr, len);
    napi_throw_error(env, NULL, "mapFile: out of memory");
    return NULL;
  }
  m->addr = addr;
  m->len = len;
  if (napi_create_external_arraybuffer(env, addr, len, unmap_finalize, m, &ab) != napi_ok) {
    /* No munmap/free here: when V8 refuses the buffer (e.g. longer than its largest ArrayBuffer)
       it has already run unmap_finalize on it; the JS side does not ask for such files. */
    napi_throw_error(env, NULL, "mapFile: this runtime did not accept the mapping as an ArrayBuffer");
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
    {"mapFile", NULL, js_map_file, NULL, NULL, NULL, napi_enumerable, NULL},
    {"exponentScan", NULL, js_exponent_scan, NULL, NULL, NULL, napi_enumerable, NULL},
  };
#else
  napi_property_descriptor props[] = {
    {"exponentScan", NULL, js_exponent_scan, NULL, NULL, NULL, napi_enumerable, NULL},
  };
#endif
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
