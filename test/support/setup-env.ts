// One shared setup for every test file: quiet, deterministic defaults.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
