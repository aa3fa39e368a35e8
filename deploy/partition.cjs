'use strict';

// What differs between AWS partitions, decided from the stack's region at package time.
//
// CloudFormation has no way to leave a resource type out of a template by region: a resource
// under a false Condition is still a resource of that type, which the China regions' CloudFormation
// rejects when the type does not exist there (AWS::CloudFront::OriginAccessControl) and which
// `cfn-lint --regions cn-north-1` reports (E3006). So the template itself is built per partition:
// serverless.yml takes these values with the `file` variable source, e.g.
//
//   provider:
//     tracing:
//       lambda: ${file(./deploy/partition.cjs):tracing}
//   resources:
//     - ${file(./deploy/cdn/${file(./deploy/partition.cjs):partition}.yml)}
//
// osls calls each exported function with { options, resolveVariable } (see
// node_modules/osls/lib/configuration/variables/sources/file.js), so the region is the one
// `provider.region` resolves to: `--region`, else AWS_REGION, else the default.
// docs/deploy.md, "Deploying in AWS China", says why each difference is there.

/** The partition of a region: `aws-cn` for the China regions (cn-north-1 Beijing, cn-northwest-1 Ningxia). */
function partitionOf(region) {
  if (typeof region !== 'string' || !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
    throw new Error(`deploy/partition.cjs: not a region name: ${JSON.stringify(region)}`);
  }
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-iso')) return region.startsWith('us-isob-') ? 'aws-iso-b' : 'aws-iso';
  return 'aws';
}

/**
 * The partitions this template is written for: one CDN fragment each under deploy/cdn/, and
 * whether Lambda offers X-Ray tracing there. The China regions' Lambda has no X-Ray
 * integration ("Amazon X-Ray integration with Lambda functions is not available in the China
 * Regions": https://docs.amazonaws.cn/en_us/aws/latest/userguide/lambda.html).
 */
const PARTITIONS = {
  aws: { lambdaTracing: true },
  'aws-cn': { lambdaTracing: false },
};

async function regionOf({ resolveVariable }) {
  return resolveVariable('self:provider.region');
}

function known(partition, region) {
  const entry = PARTITIONS[partition];
  if (!entry) {
    throw new Error(
      `deploy/partition.cjs: region ${region} is in partition ${partition}, which this template is not written for (only ${Object.keys(PARTITIONS).join(', ')})`,
    );
  }
  return entry;
}

/** `aws` or `aws-cn`: names the CDN fragment, deploy/cdn/<partition>.yml. */
async function partition(context) {
  const region = await regionOf(context);
  const name = partitionOf(region);
  known(name, region);
  return name;
}

/**
 * Lambda's active tracing: the stage's `tracing` param where the partition's Lambda offers
 * X-Ray, false where it does not, whatever the param says. A boolean, for
 * `provider.tracing.lambda`; as a string ('true'/'false') it also feeds the TracingOn
 * condition that adds the X-Ray statement to each role, so the two never disagree.
 */
async function tracing(context) {
  const region = await regionOf(context);
  const { lambdaTracing } = known(partitionOf(region), region);
  if (!lambdaTracing) return false;
  const wanted = await context.resolveVariable('param:tracing');
  return wanted === true || wanted === 'true';
}

// partitionOf and PARTITIONS are for the tests (test/partition.test.ts); osls calls only the
// function a variable names.
module.exports = { partition, tracing, partitionOf, PARTITIONS };
