// Builds provider.wasm from src/provider.js (`npm run build`).
//
// 1. Assembles build/wit/: wit-extra/js-world.wit as the root package, the
//    Sluice contract (wit/*.wit) and the WASI WIT packages as dependencies.
// 2. Runs componentize-js on it, without the HTTP features (the host gives
//    outbound HTTP only to actions granted it; a provider that needs it can
//    drop `-d http` here).
//
// The toolchain (componentize-js and jco, whose WIT files provide WASI) comes
// from ./node_modules after `npm install`, otherwise from the shared toolchain
// that Sluice's scripts/toolchains.sh installs: $SLUICE_JS_TOOLCHAIN, by
// default ${SLUICE_TOOLCHAINS:-~/.cache/sluice/toolchains}/js.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WASI_VERSION = '0.2.12';
const here = dirname(fileURLToPath(import.meta.url));

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

const shared =
  process.env.SLUICE_JS_TOOLCHAIN ||
  join(process.env.SLUICE_TOOLCHAINS || join(homedir(), '.cache', 'sluice', 'toolchains'), 'js');
const cli = 'node_modules/@bytecodealliance/componentize-js/src/cli.js';
const toolchain = [here, shared].find((root) => existsSync(join(root, cli)));
if (!toolchain) {
  fail(
    `componentize-js is neither in ./node_modules nor in ${shared}: run \`npm install\` here, ` +
      'or `scripts/toolchains.sh js` in the Sluice repository (set SLUICE_JS_TOOLCHAIN to use another folder)',
  );
}
const wasi = [
  join(toolchain, 'wasi-wit'),
  join(toolchain, 'node_modules/@bytecodealliance/jco/lib/wit/builtin', WASI_VERSION),
].find((dir) => existsSync(join(dir, 'wasi-filesystem', 'package.wit')));
if (!wasi) {
  fail(`no WASI ${WASI_VERSION} WIT files in ${toolchain} (jco 1.35.0 ships them): reinstall the toolchain`);
}
const contract = join(here, 'wit');
if (!existsSync(join(contract, 'worlds.wit'))) {
  fail('wit/ holds no Sluice contract: copy the `wit/*.wit` files of Sluice into wit/');
}

const witDir = join(here, 'build', 'wit');
rmSync(witDir, { recursive: true, force: true });
mkdirSync(join(witDir, 'deps'), { recursive: true });
cpSync(join(here, 'wit-extra', 'js-world.wit'), join(witDir, 'js-world.wit'));
cpSync(contract, join(witDir, 'deps', 'sluice-provider'), { recursive: true });
for (const name of readdirSync(wasi).filter((n) => n.startsWith('wasi-'))) {
  cpSync(join(wasi, name), join(witDir, 'deps', name), { recursive: true });
}

const args = [
  join(toolchain, cli),
  join(here, 'src', 'provider.js'),
  '--wit', witDir,
  '--world-name', 'js-action-provider',
  '--disable', 'http', 'fetch-event',
  '--out', join(here, 'provider.wasm'),
];
console.log(`build: componentize-js from ${toolchain}`);
const started = Date.now();
const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (run.error) fail(`cannot run componentize-js: ${run.error.message}`);
if (run.status !== 0) fail(`componentize-js failed (exit status ${run.status})`);
console.log(`build: wrote provider.wasm in ${((Date.now() - started) / 1000).toFixed(1)} s`);
