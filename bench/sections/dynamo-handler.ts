/**
 * The DynamoDB request handler (issue 15; issue 21, item 9a): a login's UpdateItem through lib's
 * client (its node:http request handler, `leanRequestHandler` in lib/adapters/dynamodb.ts) and
 * through one on the SDK's own NodeHttpHandler (its middleware cached and its sockets kept
 * alive, as lib's are), in one worker, against the same dynalite, in alternating rounds.
 */
import { join } from 'node:path';
import { buildLikeDeploy, log, root, round, startWorker, type Section } from '../shared';

/** UpdateItems per DynamoDB request handler: a warm-up each, then the measured ones in alternating rounds. */
const DYNAMO_WARMUP = Number(process.env.BENCH_DYNAMO_WARMUP ?? 600);
const DYNAMO_UPDATES = Number(process.env.BENCH_DYNAMO_UPDATES ?? 1200);
const ROUNDS = 6;

export const dynamoHandlerSection: Section = {
  name: 'dynamo-handler',
  about: 'CPU per UpdateItem: lib\'s node:http request handler against the SDK\'s NodeHttpHandler',
  async run(bench) {
    // bench/dynamo-entry.ts built as the functions are, so both handlers run as deployed code would.
    const dynamo = await buildLikeDeploy(join(root, 'bench', 'dynamo-entry.ts'), join(bench.work, 'dynamo', 'dynamo.mjs'));
    const stack = await bench.stack();
    const env = await bench.env();
    log(`DynamoDB request handlers: ${DYNAMO_WARMUP} warm-up and ${DYNAMO_UPDATES} measured UpdateItems each, interleaved …`);
    const worker = startWorker();
    const connections = stack.dynamo.connections();
    const measured = await worker.send<{ cpuMicros: { custom: number; sdk: number }; n: number; perRound: number; byRound: { custom: number; sdk: number }[] }>({
      type: 'dynamo',
      bundle: dynamo,
      env,
      warmup: DYNAMO_WARMUP,
      n: DYNAMO_UPDATES,
      rounds: ROUNDS,
    });
    const opened = stack.dynamo.connections() - connections;
    await worker.send({ type: 'exit' });
    const perUpdate = (micros: number, n: number) => round(micros / 1000 / n, 3);
    const f = {
      dynamoCpuMsPerUpdateCustom: perUpdate(measured.cpuMicros.custom, measured.n),
      dynamoCpuMsPerUpdateSdk: perUpdate(measured.cpuMicros.sdk, measured.n),
      /** Each round's CPU per UpdateItem, lib's and the SDK's: the spread, and whether one wins every round. */
      dynamoCpuMsPerUpdateByRound: measured.byRound.map((r) => ({ custom: perUpdate(r.custom, measured.perRound), sdk: perUpdate(r.sdk, measured.perRound) })),
      dynamoRoundsCustomCheaper: measured.byRound.filter((r) => r.custom < r.sdk).length,
      dynamoConnectionsOpenedByHandlers: opened,
    };
    return {
      figures: f,
      runs: { dynamoUpdates: measured.n },
      report: [
        'DynamoDB request handler, CPU per UpdateItem (a login\'s write; same worker, same dynalite, interleaved)',
        `  lib's node:http handler ${f.dynamoCpuMsPerUpdateCustom} ms   SDK NodeHttpHandler (cacheMiddleware, keep-alive) ${f.dynamoCpuMsPerUpdateSdk} ms   (${opened} connections opened)`,
        `  lib's cheaper in ${f.dynamoRoundsCustomCheaper} of ${ROUNDS} rounds: ${f.dynamoCpuMsPerUpdateByRound.map((r) => `${r.custom}/${r.sdk}`).join('  ')}`,
      ],
    };
  },
};
