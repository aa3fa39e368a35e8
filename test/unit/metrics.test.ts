import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../lib/metrics';

describe('Function: createMetrics', () => {
  it('writes nothing until flushed, then one EMF line for the invocation’s metrics', () => {
    const lines: string[] = [];
    const metrics = createMetrics('wechat-login-prod', (line) => lines.push(line));
    metrics.put('Requests', 1, 'Count', { Route: 'POST /user/wechatlogin', Outcome: 'OK' });
    metrics.put('Logins', 1, 'Count', { UserType: 'New' });
    metrics.put('WechatLatency', 182, 'Milliseconds', { WechatOutcome: 'OK' });
    expect(lines).toHaveLength(0);
    metrics.flush();

    expect(lines).toHaveLength(1);
    const doc = JSON.parse(lines[0]!);
    expect(doc).toMatchObject({ Service: 'wechat-login-prod', Route: 'POST /user/wechatlogin', Outcome: 'OK', UserType: 'New', WechatOutcome: 'OK', Requests: 1, Logins: 1, WechatLatency: 182 });
    expect(doc._aws.CloudWatchMetrics).toEqual([
      { Namespace: 'WeChatLogin', Dimensions: [['Service', 'Route', 'Outcome']], Metrics: [{ Name: 'Requests', Unit: 'Count' }] },
      { Namespace: 'WeChatLogin', Dimensions: [['Service', 'UserType']], Metrics: [{ Name: 'Logins', Unit: 'Count' }] },
      { Namespace: 'WeChatLogin', Dimensions: [['Service', 'WechatOutcome']], Metrics: [{ Name: 'WechatLatency', Unit: 'Milliseconds' }] },
    ]);
    expect(typeof doc._aws.Timestamp).toBe('number');
  });

  it('splits data whose dimension values or names clash into separate documents', () => {
    const lines: string[] = [];
    const metrics = createMetrics('s', (line) => lines.push(line));
    metrics.put('Requests', 1, 'Count', { Outcome: 'OK' });
    metrics.put('Requests', 1, 'Count', { Outcome: 'INTERNAL' });
    metrics.flush();
    expect(lines.map((line) => JSON.parse(line).Outcome)).toEqual(['OK', 'INTERNAL']);
  });

  it('starts afresh after a flush', () => {
    const lines: string[] = [];
    const metrics = createMetrics('s', (line) => lines.push(line));
    metrics.put('Requests', 1, 'Count');
    metrics.flush();
    metrics.flush();
    expect(lines).toHaveLength(1);
  });
});
