// A node:test reporter (used by scripts/run-tests.mjs beside the usual one): writes one JSON line
// per skipped test or suite, with its file, name and reason, for the summary printed at the end.
export default async function* skipReporter(source) {
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.skip !== undefined) {
      const { name, file, skip } = event.data;
      yield `${JSON.stringify({ name, file, reason: typeof skip === 'string' ? skip : '' })}\n`;
    }
  }
}
