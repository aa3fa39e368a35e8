'use strict';
/**
 * The routes, found by themselves: every file in deploy/routes/ declares one route's
 * function(s) and, beside them, what only that route uses (its table, its schedule…):
 *
 *   functions:            # as in serverless.yml, plus `iamRoleStatements`: what the function may do
 *     orders: { handler: functions/orders.handler, events: [...], iamRoleStatements: [...] }
 *   resources:            # optional: CloudFormation `Resources` / `Conditions` / `Outputs`
 *     Resources: { OrdersTable: {...} }
 *
 * serverless.yml takes `${file(./deploy/routes.cjs):functions}` and `…:resources`, so adding a
 * route is adding a file here (docs/development.md, "Add a route with a table of your own").
 * The files are read with the same YAML schema the framework uses (CloudFormation's short
 * tags: !Ref, !GetAtt, !Sub, !If…), and `${…}` variables in them are resolved as in
 * serverless.yml. CommonJS because osls loads file variables with require().
 */
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const yaml = require('js-yaml');
const cloudformationSchema = require('osls/lib/utils/serverless-utils/cloudformation-schema');

const DIR = join(__dirname, 'routes');
const SECTIONS = ['Resources', 'Conditions', 'Outputs'];
/** The files serverless.yml takes beside the routes: a route may not reuse a name of theirs. */
const SHARED = [join(__dirname, 'resources'), join(__dirname, 'cdn')];
/** The names the framework gives what it generates for a function or the HTTP API. */
const GENERATED = /^(HttpApi\w*|ServerlessDeploymentBucket\w*|IamRoleLambdaExecution|\w+(LambdaFunction|LambdaVersion\w*|LogGroup|IamRoleLambdaExecution|LambdaPermission\w*))$/;

const read = (file) => yaml.load(readFileSync(file, 'utf8'), { filename: file, schema: cloudformationSchema }) ?? {};
const yamlFiles = (dir) => readdirSync(dir).filter((name) => /\.ya?ml$/.test(name)).sort();

/** Each name the shared files declare, with the file that declares it (deploy/resources/tables.yml). */
function sharedNames() {
  const names = new Map();
  for (const dir of SHARED) {
    for (const file of yamlFiles(dir)) {
      const content = read(join(dir, file));
      for (const section of [...SECTIONS, 'Parameters']) {
        for (const name of Object.keys(content[section] ?? {})) names.set(name, `deploy/${dir.split(/[\\/]/).pop()}/${file}`);
      }
    }
  }
  return names;
}

/** Every route file's declarations, merged; a name declared twice names both files. */
function loadRoutes(dir = DIR) {
  const functions = {};
  const resources = Object.fromEntries(SECTIONS.map((section) => [section, {}]));
  const declaredIn = new Map();
  const shared = sharedNames();
  const claim = (kind, name, file) => {
    const key = `${kind} ${name}`;
    if (declaredIn.has(key)) throw new Error(`deploy/routes: ${kind} ${name} is declared in both ${declaredIn.get(key)} and ${file}; rename one`);
    // A route's resource of the same name would silently replace the shared one, or the framework's.
    if (kind !== 'function' && shared.has(name)) throw new Error(`deploy/routes/${file}: ${name} is already declared in ${shared.get(name)}; give yours another name`);
    if (kind === 'resource' && GENERATED.test(name)) throw new Error(`deploy/routes/${file}: ${name} is a name the framework gives what it generates; give yours another name`);
    declaredIn.set(key, file);
  };
  for (const file of yamlFiles(dir)) {
    const content = read(join(dir, file));
    const unknown = Object.keys(content).filter((key) => key !== 'functions' && key !== 'resources');
    if (unknown.length) throw new Error(`deploy/routes/${file}: unknown top-level key(s) ${unknown.join(', ')}; a route file has \`functions:\` and \`resources:\``);
    for (const [name, fn] of Object.entries(content.functions ?? {})) {
      claim('function', name, file);
      functions[name] = fn;
    }
    const own = content.resources ?? {};
    for (const key of Object.keys(own)) {
      if (!SECTIONS.includes(key)) throw new Error(`deploy/routes/${file}: resources.${key} is not taken here; use ${SECTIONS.join(', ')}`);
    }
    for (const section of SECTIONS) {
      for (const [name, value] of Object.entries(own[section] ?? {})) {
        claim(section === 'Resources' ? 'resource' : section.replace(/s$/, '').toLowerCase(), name, file);
        resources[section][name] = value;
      }
    }
  }
  for (const section of SECTIONS) if (Object.keys(resources[section]).length === 0) delete resources[section];
  return { functions, resources };
}

// serverless.yml asks twice (`:functions`, `:resources`) in one packaging run: the files are
// read and checked once.
let loaded;
module.exports = () => (loaded ??= loadRoutes());
module.exports.loadRoutes = loadRoutes;
