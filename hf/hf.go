// Package hf reads and writes Hugging Face model folders, beside model
// (weights) and tokenizer: a folder's tokenizer, chat template and EOS,
// the source a run records in its checkpoints, the export of a trained
// model, and a model loaded for sampling.
//
// A run started from a folder trains the folder's weights (model.LoadHF)
// with its byte-level BPE tokenizer (DIR/tokenizer.json). Prompts are
// rendered with a chat template (task.chat_template; default chatml when
// DIR/tokenizer_config.json has a chat_template, else plain), the response
// is the text followed by the EOS token. The EOS token is, in order: the
// chat template's end-of-turn token (<|im_end|>) when it is one of the
// model's eos_token_id (generation_config.json, then config.json), else
// the first of those ids, else tokenizer_config.json's eos_token.
//
// The run remembers the folder in its checkpoints (run state, extra key
// hf_source), so --checkpoint and --resume of such a run load the same
// tokenizer; when that file has moved, pass --model DIR as well: the
// weights then come from the checkpoint and the tokenizer from DIR. At the
// end the final weights are also written as a Hugging Face folder in
// <out>/hf (same architecture and torch_dtype, with the tokenizer files).
package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/internal/atomicfile"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/tokenizer"
)

// ExtraKey is the key of a run state's extra map (package train) under
// which a run records its Source as JSON.
const ExtraKey = "hf_source"

// Source is what a run started from a Hugging Face folder remembers.
type Source struct {
	Dir       string `json:"dir"`           // the folder (absolute)
	Arch      string `json:"arch"`          // model.ArchQwen2 or model.ArchLlama
	Dtype     string `json:"dtype"`         // dtype of the <out>/hf export
	Tokenizer string `json:"tokenizer"`     // tokenizer.json (absolute)
	EOS       int32  `json:"eos"`           // the resolved EOS id
	Chat      string `json:"chat_template"` // the resolved template name
}

// Sampler is a model with what it takes to prompt it: the tokenizer, the
// EOS token and, for a Hugging Face tokenizer, the chat template. `train
// sample` generates with it.
type Sampler struct {
	Model *model.Model
	Tok   tokenizer.Tokenizer // nil: a folder loaded for token ids only
	EOS   int32
	// Chat is the chat template of a Hugging Face model; nil for a
	// character-vocabulary checkpoint (policy template of METHOD.md §3.2).
	Chat *tokenizer.ChatTemplate
	bpe  *tokenizer.BPE
}

// Prompt encodes a prompt: one user turn of the chat template with the
// generation prompt (special markers as tokens) for a Hugging Face model,
// <bos> text <sep> for the character vocabulary.
func (s *Sampler) Prompt(text string) []int32 {
	if s.bpe == nil {
		return tokenizer.PolicyPrompt(s.Tok, text)
	}
	return s.bpe.EncodeWithSpecial(tokenizer.RenderChat(*s.Chat, []tokenizer.Message{{Role: "user", Content: text}}, true))
}

// SamplerSource says where `train sample` loads its model from.
type SamplerSource struct {
	Checkpoint string // a run's final.safetensors
	ModelDir   string // a Hugging Face model folder
	// ChatTemplate and SystemPrompt are task.chat_template and
	// task.system_prompt ("" for the defaults).
	ChatTemplate, SystemPrompt string
	// IDsOnly: the prompt is token ids, so a Hugging Face folder without
	// tokenizer.json is accepted (the Sampler's Tok is then nil).
	IDsOnly bool
}

// LoadSampler loads a model for generation from a checkpoint (a run's
// final.safetensors) or a Hugging Face folder. A checkpoint of a --model
// run finds its tokenizer from its metadata, or in src.ModelDir when that
// is given too.
func LoadSampler(b backend.Backend, src SamplerSource) (*Sampler, error) {
	checkpoint, modelDir, chatTemplate, systemPrompt := src.Checkpoint, src.ModelDir, src.ChatTemplate, src.SystemPrompt
	if checkpoint == "" && modelDir != "" && src.IDsOnly && !isFile(filepath.Join(modelDir, model.HFTokenizerFile)) {
		return loadUntokenized(b, modelDir)
	}
	switch {
	case checkpoint != "":
		m, meta, err := model.LoadCheckpoint(b, checkpoint)
		if err != nil {
			return nil, err
		}
		src, err := CheckpointSource(checkpoint, meta)
		if err != nil {
			return nil, err
		}
		if src == nil && modelDir == "" {
			tok := tokenizer.NewChar()
			if m.Cfg.Vocab != tok.VocabSize() {
				return nil, fmt.Errorf("checkpoint %s: vocabulary %d is not the character vocabulary's %d and the checkpoint names no tokenizer; pass --model DIR", checkpoint, m.Cfg.Vocab, tok.VocabSize())
			}
			eos, _ := tok.Special(tokenizer.EOS)
			return &Sampler{Model: m, Tok: tok, EOS: eos}, nil
		}
		bpe, tpl, src, err := CheckpointTokenizer(checkpoint, src, modelDir, m.Cfg.Vocab, chatTemplate, systemPrompt)
		if err != nil {
			return nil, err
		}
		return &Sampler{Model: m, Tok: bpe, EOS: src.EOS, Chat: &tpl, bpe: bpe}, nil
	case modelDir != "":
		m, bpe, tpl, src, err := LoadFolder(b, modelDir, chatTemplate, systemPrompt)
		if err != nil {
			return nil, err
		}
		return &Sampler{Model: m, Tok: bpe, EOS: src.EOS, Chat: &tpl, bpe: bpe}, nil
	}
	return nil, errors.New("give --checkpoint FILE (a run's final.safetensors) or --model DIR (a Hugging Face model folder)")
}

// loadUntokenized loads the weights of a Hugging Face folder that has no
// tokenizer.json, for prompts given as token ids: the EOS is the first of
// generation_config.json's and config.json's eos_token_id (none: -1, so
// generation runs to its length).
func loadUntokenized(b backend.Backend, dir string) (*Sampler, error) {
	m, info, err := model.LoadHF(b, dir)
	if err != nil {
		return nil, err
	}
	hints, err := generationEOS(dir)
	if err != nil {
		return nil, err
	}
	for _, id := range info.EOSTokenIDs {
		hints = append(hints, int32(id))
	}
	eos := int32(-1)
	if len(hints) > 0 {
		eos = hints[0]
	}
	return &Sampler{Model: m, EOS: eos}, nil
}

// LoadFolder loads the weights and the tokenizer of a Hugging Face
// folder. A missing tokenizer.json is reported before any weight is read.
func LoadFolder(b backend.Backend, dir, chatTemplate, systemPrompt string) (*model.Model, *tokenizer.BPE, tokenizer.ChatTemplate, *Source, error) {
	var tpl tokenizer.ChatTemplate
	tokPath := filepath.Join(dir, model.HFTokenizerFile)
	if isFile(filepath.Join(dir, model.HFConfigFile)) && !isFile(tokPath) {
		return nil, nil, tpl, nil, fmt.Errorf("--model %s: no %s there: sirl needs the model's Hugging Face tokenizer beside config.json", dir, model.HFTokenizerFile)
	}
	m, info, err := model.LoadHF(b, dir)
	if err != nil {
		return nil, nil, tpl, nil, err
	}
	hints, err := generationEOS(dir)
	if err != nil {
		return nil, nil, tpl, nil, err
	}
	for _, id := range info.EOSTokenIDs {
		hints = append(hints, int32(id))
	}
	src := &Source{Dir: absPath(dir), Arch: info.Architecture, Dtype: exportDtype(info.TorchDtype), Tokenizer: absPath(tokPath)}
	bpe, tpl, err := openHFTokenizer(src, hints, m.Cfg.Vocab, fmt.Sprintf("--model %s: config.json", dir), chatTemplate, systemPrompt)
	if err != nil {
		return nil, nil, tpl, nil, err
	}
	return m, bpe, tpl, src, nil
}

// CheckpointSource reads the Source a checkpoint's run state carries;
// nil for a character-vocabulary run.
func CheckpointSource(path string, meta map[string]string) (*Source, error) {
	var st struct {
		Extra map[string]string `json:"extra"`
	}
	if raw := meta["state"]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			return nil, fmt.Errorf("checkpoint %s: bad run state: %w", path, err)
		}
	}
	raw := st.Extra[ExtraKey]
	if raw == "" {
		return nil, nil
	}
	src := &Source{}
	if err := json.Unmarshal([]byte(raw), src); err != nil {
		return nil, fmt.Errorf("checkpoint %s: bad %s: %w", path, ExtraKey, err)
	}
	return src, nil
}

// CheckpointTokenizer opens the tokenizer of a checkpoint: the one its
// metadata names (src), or modelDir's when given (modelDir then also names
// the export architecture).
func CheckpointTokenizer(path string, src *Source, modelDir string, vocab int, chatTemplate, systemPrompt string) (*tokenizer.BPE, tokenizer.ChatTemplate, *Source, error) {
	var hints []int32
	if modelDir != "" {
		s, h, err := folderSource(modelDir)
		if err != nil {
			return nil, tokenizer.ChatTemplate{}, nil, err
		}
		src, hints = s, h
	} else {
		if !isFile(src.Tokenizer) {
			return nil, tokenizer.ChatTemplate{}, nil, fmt.Errorf("checkpoint %s was trained with the tokenizer %s, which is not there any more: pass --model DIR (a folder with that model's tokenizer.json)", path, src.Tokenizer)
		}
		hints = []int32{src.EOS}
		if chatTemplate == "" {
			chatTemplate = src.Chat
		}
	}
	bpe, tpl, err := openHFTokenizer(src, hints, vocab, "checkpoint "+path, chatTemplate, systemPrompt)
	return bpe, tpl, src, err
}

// folderSource describes a Hugging Face folder from its config.json
// without reading weights, with its EOS hints.
func folderSource(dir string) (*Source, []int32, error) {
	path := filepath.Join(dir, model.HFConfigFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--model %s: %w", dir, err)
	}
	var hc struct {
		Architectures []string        `json:"architectures"`
		TorchDtype    string          `json:"torch_dtype"`
		EOS           json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(raw, &hc); err != nil || len(hc.Architectures) == 0 {
		return nil, nil, fmt.Errorf("--model %s: %s is not a Hugging Face model config (no architectures)", dir, path)
	}
	tokPath := filepath.Join(dir, model.HFTokenizerFile)
	if !isFile(tokPath) {
		return nil, nil, fmt.Errorf("--model %s: no %s there", dir, model.HFTokenizerFile)
	}
	hints, err := generationEOS(dir)
	if err != nil {
		return nil, nil, err
	}
	ids, err := eosIDs(hc.EOS)
	if err != nil {
		return nil, nil, fmt.Errorf("--model %s: %s: eos_token_id: %v", dir, path, err)
	}
	src := &Source{Dir: absPath(dir), Arch: hc.Architectures[0], Dtype: exportDtype(hc.TorchDtype), Tokenizer: absPath(tokPath)}
	return src, append(hints, ids...), nil
}

// openHFTokenizer loads src.Tokenizer, checks it against the model's
// vocabulary, resolves the chat template and the EOS token (recorded in src
// and in the tokenizer's EOS special). modelWhat names the model side in
// errors.
func openHFTokenizer(src *Source, eosHints []int32, vocab int, modelWhat, chatTemplate, systemPrompt string) (*tokenizer.BPE, tokenizer.ChatTemplate, error) {
	var tpl tokenizer.ChatTemplate
	bpe, err := tokenizer.LoadBPE(src.Tokenizer)
	if err != nil {
		return nil, tpl, err
	}
	if bpe.VocabSize() > vocab {
		return nil, tpl, fmt.Errorf("tokenizer %s has %d tokens but the model (%s) has vocab_size %d: the tokenizer does not belong to this model",
			src.Tokenizer, bpe.VocabSize(), modelWhat, vocab)
	}
	if tpl, err = resolveChat(src.Tokenizer, chatTemplate, systemPrompt); err != nil {
		return nil, tpl, err
	}
	var cands []int32
	for _, id := range eosHints {
		if _, ok := bpe.IDToToken(id); ok {
			cands = append(cands, id)
		}
	}
	eos := int32(-1)
	if end, ok := bpe.Special(strings.TrimSpace(tpl.TurnEnd)); ok && !tpl.Plain && slices.Contains(cands, end) {
		eos = end
	} else if len(cands) > 0 {
		eos = cands[0]
	} else if id, ok := bpe.Special(tokenizer.EOS); ok {
		eos = id
	}
	if eos < 0 {
		return nil, tpl, fmt.Errorf("tokenizer %s: no EOS token: no eos_token_id in config.json or generation_config.json and no eos_token in tokenizer_config.json", src.Tokenizer)
	}
	if err := bpe.SetSpecial(tokenizer.EOS, eos); err != nil {
		return nil, tpl, err
	}
	src.EOS, src.Chat = eos, tpl.Name
	return bpe, tpl, nil
}

// resolveChat picks the chat template: the named one, else chatml when
// the tokenizer_config.json beside tokPath has a chat_template, else plain;
// a non-empty systemPrompt becomes the default system turn.
func resolveChat(tokPath, name, systemPrompt string) (tokenizer.ChatTemplate, error) {
	if name == "" {
		name = "plain"
		if raw, err := os.ReadFile(filepath.Join(filepath.Dir(tokPath), "tokenizer_config.json")); err == nil {
			var tc map[string]json.RawMessage
			if json.Unmarshal(raw, &tc) == nil && len(tc["chat_template"]) > 0 && string(tc["chat_template"]) != "null" {
				name = "chatml"
			}
		}
	}
	tpl, err := tokenizer.ChatTemplateByName(name)
	if err != nil {
		return tpl, fmt.Errorf("chat template: %w", err)
	}
	if systemPrompt != "" {
		tpl.DefaultSystem = systemPrompt
	}
	return tpl, nil
}

// generationEOS reads eos_token_id of dir/generation_config.json (none
// when the file is absent).
func generationEOS(dir string) ([]int32, error) {
	path := filepath.Join(dir, "generation_config.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--model %s: %w", dir, err)
	}
	var gc struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(raw, &gc); err != nil {
		return nil, fmt.Errorf("--model %s: %s: bad JSON: %v", dir, path, err)
	}
	ids, err := eosIDs(gc.EOS)
	if err != nil {
		return nil, fmt.Errorf("--model %s: %s: eos_token_id: %v", dir, path, err)
	}
	return ids, nil
}

// eosIDs decodes a token id given as null, a number or a list of numbers.
func eosIDs(raw json.RawMessage) ([]int32, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one int32
	if json.Unmarshal(raw, &one) == nil {
		return []int32{one}, nil
	}
	var many []int32
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want a number or a list of numbers, got %s", raw)
	}
	return many, nil
}

// exportDtype is the dtype <out>/hf is written with: the folder's
// torch_dtype when SaveHF can write it, else float32.
func exportDtype(torchDtype string) string {
	switch torchDtype {
	case "float32", "bfloat16", "float16":
		return torchDtype
	}
	return "float32"
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// hfSideFiles are copied from the source folder into <out>/hf.
func hfSideFiles() []string {
	return []string{"tokenizer_config.json", "generation_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"}
}

// Export writes m as a Hugging Face folder dir in src's architecture and
// dtype, with src's tokenizer files beside it.
func Export(m *model.Model, src *Source, dir string) error {
	if err := m.SaveHF(dir, src.Arch, src.Dtype); err != nil {
		return err
	}
	files := map[string]string{model.HFTokenizerFile: src.Tokenizer}
	for _, f := range hfSideFiles() {
		files[f] = filepath.Join(filepath.Dir(src.Tokenizer), f)
	}
	for name, from := range files {
		data, err := os.ReadFile(from)
		if errors.Is(err, fs.ErrNotExist) && name != model.HFTokenizerFile {
			continue
		}
		if err != nil {
			return fmt.Errorf("export %s: %w", dir, err)
		}
		if err := atomicfile.Write(filepath.Join(dir, name), data); err != nil {
			return fmt.Errorf("export %s: %w", dir, err)
		}
	}
	return nil
}
