import type { Sink } from './logger';

/**
 * CloudWatch metrics as Embedded Metric Format log lines: CloudWatch Logs turns each line into
 * metric data, so recording a metric costs a line of stdout and no request. Namespace
 * `WeChatLogin`; every datum carries the Service (service-stage) dimension.
 */
export const METRICS_NAMESPACE = 'WeChatLogin';

export type Unit = 'Count' | 'Milliseconds';

export interface Metrics {
  put(name: string, value: number, unit: Unit, dimensions?: Record<string, string>): void;
}

const stdoutSink: Sink = (line) => {
  process.stdout.write(line + '\n');
};

export function createMetrics(service: string, sink: Sink = stdoutSink): Metrics {
  return {
    put(name, value, unit, dimensions = {}) {
      const all = { Service: service, ...dimensions };
      sink(
        JSON.stringify({
          _aws: {
            Timestamp: Date.now(),
            CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [Object.keys(all)], Metrics: [{ Name: name, Unit: unit }] }],
          },
          ...all,
          [name]: value,
        }),
      );
    },
  };
}
