/** `mtasts resolver --config FILE`: the Postfix socketmap server (docs/resolver.md). */
import { parseArgs } from 'node:util';
import { ConfigError, loadResolverConfig } from '../resolver/config.js';
import { startSocketmapServer } from '../resolver/server.js';
import { usage, UsageError, type Io } from './io.js';

export async function runResolver(args: string[], io: Io): Promise<number> {
  const { values } = usage(() => parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, 'log-level': { type: 'string', short: 'v' } },
    strict: true,
  }));
  const file = values.config ?? '/etc/mta-sts-daemon.yml';
  let config;
  try {
    config = loadResolverConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  if (values['log-level'] !== undefined) config.logLevel = values['log-level'];
  const server = await startSocketmapServer(config);
  io.err(`mtasts resolver: listening on ${server.address}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      void server.close().then(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return 0;
}
