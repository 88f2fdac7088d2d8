// Runs a WASI (GOOS=wasip1) Go test binary under Node's V8, the engine Envoy
// uses for Wasm by default, so the filter code's cost can be compared with
// wazero (the harness) and native Go:
//
//   GOOS=wasip1 GOARCH=wasm go test -c -o /tmp/digest.wasm ./filter/digest/
//   node --no-warnings e2e/v8/wasi.mjs /tmp/digest.wasm -test.run '^$' -test.bench DigestJSON
//
// `make bench-wasm` does this for the filter's packages.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv, env, exit } from 'node:process';

if (argv.length < 3) {
  console.error('usage: node wasi.mjs MODULE.wasm [ARGS...]');
  exit(2);
}
const wasi = new WASI({ version: 'preview1', args: argv.slice(2), env, preopens: { '/': '/' }, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(argv[2]));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance));
