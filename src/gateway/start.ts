/**
 * `patchbay start [--config FILE]`: loads the config (or the embedded demo), starts the
 * gateway, and handles signals: SIGHUP reloads, SIGTERM/SIGINT drain then exit 0.
 */
import { parseArgs } from 'node:util';
import { ConfigError, ConfigManager } from '../config/index.js';
import { createLogger, SystemClock } from '../util/index.js';
import { Gateway } from './gateway.js';

const HELP = `usage: patchbay start [--config FILE]

Starts the gateway. Without --config it runs the embedded demo: SIP on 127.0.0.1:5060
(UDP and TCP), the control API on 127.0.0.1:8080, and every call answered by the built-in
echo bot (a greeting beep, your voice back after 0.6 s, DTMF digits played back as tones).

options:
  -c, --config FILE   gateway YAML (trunks come from its sipProfilesDir)
  -h, --help          this text

signals:
  SIGHUP              reload the config; calls in progress keep theirs
  SIGTERM, SIGINT     drain: new calls get 503, calls in progress finish (up to
                      limits.drainTimeoutSec), then exit 0

examples:
  patchbay start
  sipp -sn uac_pcap 127.0.0.1:5060 -m 1        # place a demo call with SIPp
  patchbay start --config /etc/patchbay/gateway.yaml
`;

export async function startMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const clock = new SystemClock();
  let config: ConfigManager;
  try {
    config = values.config
      ? await ConfigManager.open({ gatewayFile: values.config, env: process.env, clock })
      : ConfigManager.embedded(clock);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const logger = createLogger({ level: config.current.gateway.logLevel });
  const gateway = await Gateway.start({ config, logger, clock });
  const { sip, api } = gateway.addresses();
  logger.info(
    {
      sip: sip.map((address) => `${address.transport}:${address.address}:${address.port}`),
      api,
      demo: !values.config,
    },
    'patchbay started',
  );
  if (values.config) {
    config.handleSignals();
    config.watchFiles();
  }
  // Node ends the process on an unhandled rejection, and every call with it: a bug in one
  // call's async path is logged instead, and the calls in progress go on.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string): void => {
      logger.info({ signal, activeCalls: gateway.activeCalls }, 'draining');
      const timeoutMs = config.current.gateway.limits.drainTimeoutSec * 1000;
      void gateway
        .drainAndWait(timeoutMs)
        .then(() => gateway.stop())
        .then(() => config.close())
        .then(() => {
          logger.info({}, 'stopped');
          resolve(0);
        });
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}
