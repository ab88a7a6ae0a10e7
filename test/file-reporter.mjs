// A node:test reporter: the spec reporter's output, with a header line naming the test file
// before that file's results, so a failure is found without searching for its test name:
//
//   ── test/unit/session/behaviour.test.ts
//   ✔ opens a stream (1.2ms)
//
// Files run one after another on a machine with two cores; where they run in parallel and their
// results interleave, a header is printed again whenever the file changes.
import { relative } from 'node:path';
import { spec as Spec } from 'node:test/reporters';

const root = process.env.KUBEMUX_TEST_ROOT ?? process.cwd();

export default async function* fileHeaders(source) {
  const spec = new Spec();
  let current;
  const drain = function* () {
    for (let chunk = spec.read(); chunk !== null; chunk = spec.read()) yield String(chunk);
  };
  for await (const event of source) {
    const file = event.data?.file;
    // Events that print a test's result; diagnostics and the run's summary carry no file.
    if (file !== undefined && file !== current && (event.type === 'test:start' || event.type === 'test:pass' || event.type === 'test:fail')) {
      current = file;
      yield `\n── ${relative(root, file)}\n`;
    }
    spec.write(event);
    yield* drain();
  }
  spec.end();
  for await (const chunk of spec) yield String(chunk);
}
