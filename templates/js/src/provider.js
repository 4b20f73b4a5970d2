// `custom:{{name}}`: a build provider written in JavaScript.
//
// It counts the files of its input artifact, writes `report.txt` into its
// output artifact and returns the count as output variables.
//
// Build: npm run build            (writes provider.wasm)
// Try:   sluice action run --provider provider.wasm --config Greeting=hi \
//            --input src=./fixtures/src --output out=./out
//
// The code runs in StarlingMonkey, not Node.js: there is no `fs` module.
// Files are reached through WASI's file system, imported below.
import { log } from 'sluice:provider/log@0.1.0';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

const LANGUAGE = 'js';

const PROPERTIES = [
  {
    name: 'Greeting',
    required: true,
    secret: false,
    description: 'First line of the report (`report.txt` in the output artifact).',
  },
  {
    name: 'Fail',
    required: false,
    secret: false,
    description: 'true to make the job fail on purpose (to try failure handling); default false.',
  },
];

const TRUE = ['true', 'yes', '1', 'on'];
const FALSE = ['false', 'no', '0', 'off', ''];

/** A configuration problem found at run time. */
class ConfigurationError extends Error {}

/** Every problem with a configuration, one message each, naming the property. */
function problems(configuration) {
  const config = new Map(configuration);
  const found = [];
  for (const p of PROPERTIES.filter((p) => p.required)) {
    if (!config.has(p.name)) {
      found.push(`missing required configuration property \`${p.name}\``);
    } else if (config.get(p.name).trim() === '') {
      found.push(`configuration property \`${p.name}\` is empty`);
    }
  }
  const known = PROPERTIES.map((p) => p.name);
  for (const [name] of configuration) {
    if (!known.includes(name)) {
      found.push(`unknown configuration property \`${name}\` (known: ${known.join(', ')})`);
    }
  }
  const fail = config.get('Fail');
  // Values holding `#{...}` references are only known at run time.
  if (fail !== undefined && !fail.includes('#{') && !isFlag(fail)) {
    found.push(`configuration property \`Fail\` must be true or false, not \`${fail}\``);
  }
  return found;
}

function isFlag(value) {
  const v = value.trim().toLowerCase();
  return TRUE.includes(v) || FALSE.includes(v);
}

function flag(config, name) {
  const value = (config.get(name) ?? '').trim().toLowerCase();
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new ConfigurationError(`configuration property \`${name}\` must be true or false, not \`${value}\``);
}

function failed(kind, message) {
  return { tag: 'failed', val: { kind, message } };
}

/** The message of anything thrown: WASI errors arrive as a code (`no-entry`). */
function describeError(e) {
  const payload = e && typeof e === 'object' && 'payload' in e ? e.payload : e;
  if (payload instanceof Error) return payload.message;
  return typeof payload === 'string' ? payload : JSON.stringify(payload);
}

// ---- WASI file system ----------------------------------------------------

/** A descriptor for folder `path`: the host preopens each artifact folder. */
function openFolder(path) {
  let best;
  for (const [descriptor, mount] of getDirectories()) {
    const holds = path === mount || path.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
    if (holds && (!best || mount.length > best[1].length)) best = [descriptor, mount];
  }
  if (!best) throw new Error(`no folder of this job holds ${path}`);
  const rest = path.slice(best[1].length).replace(/^\/+/, '');
  if (!rest) return best[0];
  return best[0].openAt({}, rest, { directory: true }, { read: true });
}

/** Files (not folders) under `folder` and their total size; links are not followed. */
function countFiles(folder) {
  let files = 0;
  let bytes = 0n;
  const entries = folder.readDirectory();
  for (let entry = entries.readDirectoryEntry(); entry; entry = entries.readDirectoryEntry()) {
    if (entry.type === 'directory') {
      const sub = countFiles(folder.openAt({}, entry.name, { directory: true }, { read: true }));
      files += sub.files;
      bytes += sub.bytes;
    } else {
      files += 1;
      bytes += folder.statAt({}, entry.name).size;
    }
  }
  return { files, bytes };
}

/** The text of file `name` in `folder`, or undefined when there is none. */
function readText(folder, name) {
  let file;
  try {
    file = folder.openAt({}, name, {}, { read: true });
  } catch (e) {
    if (describeError(e) === 'no-entry') return undefined;
    throw e;
  }
  const chunks = [];
  let offset = 0n;
  for (;;) {
    const [data, end] = file.read(65536n, offset);
    chunks.push(data);
    offset += BigInt(data.length);
    if (end || data.length === 0) break;
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

/** Writes `text` to file `name` in `folder`, replacing it. */
function writeText(folder, name, text) {
  const file = folder.openAt({}, name, { create: true, truncate: true }, { write: true });
  const data = new TextEncoder().encode(text);
  let offset = 0;
  while (offset < data.length) {
    offset += Number(file.write(data.subarray(offset), BigInt(offset)));
  }
}

// ---- the provider ----------------------------------------------------------

function work(job) {
  const config = new Map(job.configuration);
  const greeting = (config.get('Greeting') ?? '').trim();
  if (!greeting) throw new ConfigurationError('missing required configuration property `Greeting`');
  if (flag(config, 'Fail')) {
    return failed('job-failed', 'failing on purpose: configuration property `Fail` is true');
  }
  const [source] = job.inputs;
  const [output] = job.outputs;
  if (!source || !output) {
    throw new ConfigurationError('{{name}} needs one input artifact and one output artifact');
  }

  const input = openFolder(source.path);
  const { files, bytes } = countFiles(input);
  const readme = readText(input, 'README.md');
  const firstLine = readme === undefined ? '(no README.md)' : readme.split('\n')[0];

  writeText(
    openFolder(output.path),
    'report.txt',
    `${greeting} from {{name}} (${LANGUAGE})\n` +
      `input \`${source.name}\`: ${files} files, ${bytes} bytes\n` +
      `README.md: ${firstLine}\n`,
  );

  log('info', `counted ${files} files (${bytes} bytes) in \`${source.name}\``);
  return {
    tag: 'succeeded',
    val: {
      summary: `${files} files, ${bytes} bytes in \`${source.name}\``,
      revision: undefined,
      outputVariables: [
        ['Files', String(files)],
        ['Bytes', String(bytes)],
        ['Language', LANGUAGE],
      ],
    },
  };
}

export const provider = {
  describe() {
    return {
      actionType: { category: 'build', owner: 'custom', provider: '{{name}}', version: '1.0.0' },
      description: 'Counts the files of its input and writes a report into its output.',
      properties: PROPERTIES,
      minInputs: 1,
      maxInputs: 1,
      minOutputs: 1,
      maxOutputs: 1,
    };
  },

  // Returning is `ok`; throwing the list of problems is `err`.
  validate(configuration) {
    const found = problems(configuration);
    if (found.length > 0) throw found;
  },

  // Never let an exception escape: it would trap the component. Report it as
  // a failed job instead.
  run(job) {
    try {
      return work(job);
    } catch (e) {
      if (e instanceof ConfigurationError) return failed('configuration-error', e.message);
      const message = describeError(e);
      log('error', message);
      return failed('job-failed', message);
    }
  },
};
