'use strict';
/**
 * IAM statements that depend on the stage's settings, decided when the template is built
 * (serverless.yml: provider.iam.role.statements and custom.statements). A role's statement
 * cannot be a CloudFormation `!If`: the framework checks each `iamRoleStatements` entry for an
 * Effect, an Action and a Resource before anything else, so the choice is made here, from the
 * same params a condition would test. CommonJS because osls loads file variables with require().
 */
module.exports = async ({ resolveVariable }) => {
  // Lambda's tracing as the template sets it: the stage's param, where the partition offers X-Ray.
  const tracing = (await resolveVariable('file(./deploy/partition.cjs):tracing')) === true;
  const userEvents = String(await resolveVariable('param:userEvents'));
  return {
    // Taken by every function's role (custom.serverless-iam-roles-per-function.defaultInherit).
    // X-Ray's two calls take no resource: `*` is the only one they accept.
    everyRole: tracing ? [{ Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' }] : [],
    // UserDeleted on the default bus where the stage publishes it (param userEvents); where it
    // only logs it, the functions that would publish are refused it outright.
    publishUserEvents: {
      Effect: userEvents === 'eventbridge' ? 'Allow' : 'Deny',
      Action: ['events:PutEvents'],
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default' },
    },
  };
};
