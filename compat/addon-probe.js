// Does this runtime survive an error from fs-native-extensions? The library loads the addon
// only where it does (src/engine/platform.ts, nativeAddonRefusal); this probe, run in a process of
// its own by compat/core.js, tells when Bun or Deno can be allowed again. It exchanges two
// paths that do not exist: the addon must throw ENOENT, synchronously and asynchronously.
import { createRequire } from 'node:module';

const native = createRequire(import.meta.url)('fs-native-extensions');
const missing = new URL('./no-such-path-', import.meta.url).pathname;
const codes = [];
try {
  native.swapSync(`${missing}a`, `${missing}b`);
} catch (error) {
  codes.push(error.code);
}
try {
  await native.swap(`${missing}a`, `${missing}b`);
} catch (error) {
  codes.push(error.code);
}
process.stdout.write(`${codes.join(',')}\n`);
