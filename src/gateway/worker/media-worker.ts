/**
 * Entry of a media worker thread (`media.workers`): a MediaHost on the thread's parent port,
 * with its own clock, logger, media clock and port slice. It ends on its own once told to stop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { callMediaClock, PortAllocator, SendBatch } from '../../media/index.js';
import { createLogger, SystemClock } from '../../util/index.js';
import { type HostPort, MediaHost } from './media-host.js';
import type { MediaWorkerData } from './protocol.js';

const data = workerData as MediaWorkerData;
const clock = new SystemClock();
const logger = createLogger({ level: data.logLevel }).child({ mediaWorker: data.portMin });
if (!parentPort) throw new Error('media-worker.js runs as a worker thread');
new MediaHost({
  port: parentPort as unknown as HostPort,
  clock,
  logger,
  mediaClock: callMediaClock(clock, logger, data.pacingLeadMs),
  sendBatch: new SendBatch(),
  portAllocator: new PortAllocator(data.portMin, data.portMax, data.firstPort),
  bindAddress: data.bindAddress,
});
