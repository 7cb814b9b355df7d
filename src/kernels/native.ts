/** Loader for the native (C, Node-API) kernel backend. Placeholder until the addon lands. */
import type { Backend } from "./types.js";

export interface NativeLoad {
  backend?: Backend;
  error?: string;
}

export function loadNativeBackend(): NativeLoad {
  return { error: "the native addon is not built" };
}
