import { stdoutSink, type Sink } from './logger';

/**
 * CloudWatch metrics as Embedded Metric Format log lines: CloudWatch Logs turns each line into
 * metric data, so recording a metric costs a line of stdout and no request. Namespace
 * `WeChatLogin`; every datum carries the Service (service-stage) dimension. Data put during
 * an invocation are buffered and written as one line when it ends (`flush`).
 */
export const METRICS_NAMESPACE = 'WeChatLogin';

export type Unit = 'Count' | 'Milliseconds';

export interface Metrics {
  put(name: string, value: number, unit: Unit, dimensions?: Record<string, string>): void;
  /** Writes what was put since the last flush, as one line where the dimensions allow it. */
  flush(): void;
}

interface Datum {
  name: string;
  value: number;
  unit: Unit;
  dimensions: Record<string, string>;
}

export function createMetrics(service: string, sink: Sink = stdoutSink): Metrics {
  let pending: Datum[] = [];
  return {
    put(name, value, unit, dimensions = {}) {
      pending.push({ name, value, unit, dimensions: { Service: service, ...dimensions } });
    },
    flush() {
      const data = pending;
      pending = [];
      // One EMF document holds one value per field: data whose dimensions or names clash
      // go to a document of their own.
      const documents: Datum[][] = [];
      for (const datum of data) {
        const fits = documents.find((doc) =>
          doc.every((other) => other.name !== datum.name && Object.entries(datum.dimensions).every(([k, v]) => !(k in other.dimensions) || other.dimensions[k] === v)),
        );
        if (fits) fits.push(datum);
        else documents.push([datum]);
      }
      for (const doc of documents) {
        const fields: Record<string, unknown> = {};
        for (const datum of doc) Object.assign(fields, datum.dimensions, { [datum.name]: datum.value });
        sink(
          JSON.stringify({
            _aws: {
              Timestamp: Date.now(),
              CloudWatchMetrics: doc.map((datum) => ({
                Namespace: METRICS_NAMESPACE,
                Dimensions: [Object.keys(datum.dimensions)],
                Metrics: [{ Name: datum.name, Unit: datum.unit }],
              })),
            },
            ...fields,
          }),
        );
      }
    },
  };
}
