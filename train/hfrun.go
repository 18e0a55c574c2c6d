package train

import (
	"encoding/json"
	"path/filepath"

	"github.com/sirl-dev/sirl/hf"
	"github.com/sirl-dev/sirl/tokenizer"
)

// useHF makes the env speak a Hugging Face tokenizer and records the source
// in the run state (so checkpoints carry it; see package hf).
func (e *env) useHF(bpe *tokenizer.BPE, tpl tokenizer.ChatTemplate, src *hf.Source) error {
	e.tok, e.eos = bpe, src.EOS
	e.form.bpe, e.form.chat, e.form.hf = bpe, tpl, src
	b, err := json.Marshal(src)
	if err != nil {
		return err
	}
	e.state.Extra[hf.ExtraKey] = string(b)
	return nil
}

// exportHF writes the final model of a --model run as a Hugging Face folder
// in <out>/hf with the tokenizer files; nothing for other runs.
func (e *env) exportHF() error {
	if e.form.hf == nil {
		return nil
	}
	return hf.Export(e.m, e.form.hf, filepath.Join(e.out, "hf"))
}
