'use strict';
/**
 * A local plugin (serverless.yml: plugins) that removes the framework's shared role,
 * IamRoleLambdaExecution, once serverless-iam-roles-per-function has given every function a
 * role of its own. The framework writes that role for any function without `role:`, and the
 * plugin copies it as the start of each function's role but leaves it in the template: an
 * unused role that may write to every log group of the stage (and takes every inherited
 * statement). Kept when anything still refers to it. CommonJS: osls loads plugins with require().
 */
const ROLE = 'IamRoleLambdaExecution';

class DropUnusedDefaultRole {
  constructor(serverless) {
    this.serverless = serverless;
    // Runs after serverless-iam-roles-per-function's hook of the same name: plugins listed later run later.
    this.hooks = { 'before:package:finalize': () => this.drop() };
  }

  drop() {
    const resources = this.serverless.service.provider.compiledCloudFormationTemplate.Resources;
    if (!resources[ROLE]) return;
    const { [ROLE]: _role, ...others } = resources;
    if (JSON.stringify(others).includes(`"${ROLE}"`)) return;
    delete resources[ROLE];
  }
}

module.exports = DropUnusedDefaultRole;
