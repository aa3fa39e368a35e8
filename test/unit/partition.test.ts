import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// deploy/partition.cjs and the avatar CDN's two fragments it chooses between (deploy/cdn/):
// the template is built per partition because the China regions lack resource types
// (docs/deploy.md, "Deploying in AWS China"). Packaging both partitions and cfn-lint on them is
// the template test's part; this checks the choice and the fragments' shared contract.

const require = createRequire(import.meta.url);
const partitionModule = require('../../deploy/partition.cjs') as {
  partitionOf(region: string): string;
  partition(context: Context): Promise<string>;
  tracing(context: Context): Promise<boolean>;
};
const yaml = require('js-yaml') as { load(text: string, options: { schema: unknown }): any };
const cloudformationSchema = require('osls/lib/utils/serverless-utils/cloudformation-schema');

type Context = { options: Record<string, unknown>; resolveVariable(address: string): Promise<unknown> };

/** What osls hands a `file` variable's function: the region and the stage's tracing param as they resolve. */
const context = (region: string, tracingParam: unknown = true): Context => ({
  options: { region },
  resolveVariable: async (address) => {
    if (address === 'self:provider.region') return region;
    if (address === 'param:tracing') return tracingParam;
    throw new Error(`unexpected variable ${address}`);
  },
});

const fragment = (partition: string) =>
  yaml.load(readFileSync(`deploy/cdn/${partition}.yml`, 'utf8'), { schema: cloudformationSchema });

describe('deploy/partition.cjs', () => {
  it('puts the China regions in aws-cn and the others in aws', () => {
    expect(partitionModule.partitionOf('cn-north-1')).toBe('aws-cn');
    expect(partitionModule.partitionOf('cn-northwest-1')).toBe('aws-cn');
    expect(partitionModule.partitionOf('ap-southeast-1')).toBe('aws');
    expect(partitionModule.partitionOf('ap-east-1')).toBe('aws');
    expect(() => partitionModule.partitionOf('')).toThrow(/not a region name/);
  });

  it('names a fragment that exists for each partition the template is written for, and refuses the others', async () => {
    for (const region of ['ap-southeast-1', 'ap-east-1', 'cn-north-1', 'cn-northwest-1']) {
      const name = await partitionModule.partition(context(region));
      expect(() => readFileSync(`deploy/cdn/${name}.yml`)).not.toThrow();
    }
    await expect(partitionModule.partition(context('us-gov-west-1'))).rejects.toThrow(/aws-us-gov, which this template is not written for/);
  });

  it('traces Lambda as the stage asks outside China, and never in the China regions (no X-Ray integration there)', async () => {
    expect(await partitionModule.tracing(context('ap-southeast-1', true))).toBe(true);
    expect(await partitionModule.tracing(context('ap-east-1', 'true'))).toBe(true);
    expect(await partitionModule.tracing(context('ap-southeast-1', false))).toBe(false);
    expect(await partitionModule.tracing(context('cn-north-1', true))).toBe(false);
    expect(await partitionModule.tracing(context('cn-northwest-1', 'true'))).toBe(false);
  });
});

describe('deploy/cdn fragments', () => {
  const aws = fragment('aws');
  const cn = fragment('aws-cn');

  it('both define what the rest of the template uses: the conditions, the distribution, its policy and its output', () => {
    for (const f of [aws, cn]) {
      expect(Object.keys(f.Conditions).sort()).toEqual(['HasAvatarCertificate', 'HasAvatarDomain']);
      expect(f.Resources).toHaveProperty('AvatarsDistribution');
      expect(f.Resources).toHaveProperty('AvatarsBucketPolicy');
      expect(f.Resources).toHaveProperty('AvatarsCachePolicy');
      expect(f.Parameters).toHaveProperty('AvatarDomain');
      expect(Object.keys(f.Outputs)).toEqual(['AvatarsDistributionDomainName']);
      expect(f.Resources.AvatarsBucket).toBeUndefined();
    }
  });

  it('reads the bucket with origin access control and an ACM certificate in aws, an origin access identity and an IAM certificate in aws-cn', () => {
    const types = (f: any) => Object.values(f.Resources).map((r: any) => r.Type);
    expect(types(aws)).toContain('AWS::CloudFront::OriginAccessControl');
    expect(types(cn)).not.toContain('AWS::CloudFront::OriginAccessControl');
    expect(types(cn)).toContain('AWS::CloudFront::CloudFrontOriginAccessIdentity');

    expect(aws.Parameters).toHaveProperty('AvatarCertificateArn');
    expect(cn.Parameters).not.toHaveProperty('AvatarCertificateArn');
    expect(cn.Parameters).toHaveProperty('AvatarIamCertificateId');
    expect(JSON.stringify(cn)).not.toMatch(/AcmCertificateArn|cloudfront\.amazonaws\.com|67f7725c-6f97-4210-82d7-5512b31e9d03/);
    expect(JSON.stringify(cn.Resources.AvatarsDistribution)).toMatch(/IamCertificateId/);

    const pattern = (f: any, name: string) => new RegExp(f.Parameters[name].AllowedPattern);
    expect(pattern(cn, 'AvatarIamCertificateId').test('ASCACKCEVSQ6C2EXAMPLE')).toBe(true);
    expect(pattern(cn, 'AvatarIamCertificateId').test('arn:aws-cn:iam::123456789012:server-certificate/cloudfront/img')).toBe(false);
  });

  it('caches alike in both partitions and keeps the same security headers', () => {
    expect(cn.Resources.AvatarsCachePolicy).toEqual(aws.Resources.AvatarsCachePolicy);
    const { SecurityHeadersConfig: headers } = cn.Resources.AvatarsResponseHeadersPolicy.Properties.ResponseHeadersPolicyConfig;
    expect(Object.keys(headers).sort()).toEqual(['ContentTypeOptions', 'FrameOptions', 'ReferrerPolicy', 'StrictTransportSecurity', 'XSSProtection']);
  });
});
