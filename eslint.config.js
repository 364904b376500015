// eslint's recommended rules for steptrace's JavaScript: the page's script and engine.js
// (steptrace/views/page/), which run in a browser and in Node, and the conformance runner
// (tests/js/). `npm ci` installs eslint; tests/test_js_lint.py runs it.
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  js.configs.recommended,
  {
    files: ["**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: { ...globals.browser, ...globals.node },
    },
  },
];
