package cli

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/compare"
	"github.com/sirl-dev/sirl/hf"
	"github.com/sirl-dev/sirl/memplan"
	"github.com/sirl-dev/sirl/rollout"
	"github.com/sirl-dev/sirl/tokenizer"
)

func newCompareCmd() *cobra.Command {
	c := &common{}
	cmd := &cobra.Command{Use: "compare", Short: "methods × seeds at equal sampled-token budgets → compare.md, compare.json, PNG plots", Args: cobra.NoArgs}
	addCommon(cmd, c)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(cmd.Flags(), c.config)
		if err != nil {
			return err
		}
		// A bad grid must not overwrite the config.yaml of a comparison there.
		if err := compare.Validate(cfg); err != nil {
			return err
		}
		out := c.out
		if out == "" {
			out = "runs/" + cfg.Name
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		yml, err := configYAML(cfg)
		if err != nil {
			return err
		}
		if err := os.WriteFile(out+"/config.yaml", yml, 0o644); err != nil {
			return err
		}
		_, err = compare.Run(cmd.Context(), cfg, compare.Options{Out: out, Log: cmd.ErrOrStderr(), NewEngine: newEngine})
		if err != nil {
			return err
		}
		md, err := os.ReadFile(out + "/compare.md")
		if err != nil {
			return err
		}
		fmt.Fprint(cmd.OutOrStdout(), string(md))
		return nil
	}
	return cmd
}

func newSampleCmd() *cobra.Command {
	c := &common{}
	var prompt, ids, chat string
	var maxNew int
	var greedy bool
	var temp float64
	cmd := &cobra.Command{Use: "sample", Short: "generate from a checkpoint (--checkpoint) or model folder (--model)", Args: cobra.NoArgs}
	addCommon(cmd, c)
	f := cmd.Flags()
	f.StringVar(&prompt, "prompt", "", "prompt text: one user turn of the chat template (--model) or the policy template (char checkpoints)")
	f.StringVar(&ids, "ids", "", "prompt token ids, comma separated (used as they are)")
	f.StringVar(&chat, "chat-template", "", "chat template for --prompt with a Hugging Face model: plain, chatml, qwen2.5, qwen3, qwen3-nothink (default: task.chat_template, else chatml when tokenizer_config.json has a chat_template, else plain)")
	f.IntVar(&maxNew, "max-new", 64, "most new tokens")
	f.BoolVar(&greedy, "greedy", false, "greedy decoding (else temperature sampling)")
	f.Float64Var(&temp, "temperature", 1.0, "sampling temperature")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(cmd.Flags(), c.config)
		if err != nil {
			return err
		}
		if (prompt == "") == (ids == "") {
			return fmt.Errorf("give exactly one of --prompt and --ids")
		}
		if maxNew < 1 {
			return fmt.Errorf("--max-new: must be > 0, got %d", maxNew)
		}
		if chat == "" {
			chat = cfg.Task.ChatTemplate
		} else if _, err := tokenizer.ChatTemplateByName(chat); err != nil {
			return fmt.Errorf("--chat-template: %w", err)
		}
		be, err := openEngine(cfg, func() (backend.PoolPlan, error) {
			return samplePlan(modelSource(cfg, c.checkpoint, c.modelDir))
		})
		if err != nil {
			return err
		}
		defer be.Close()
		s, err := hf.LoadSampler(be, hf.SamplerSource{Checkpoint: c.checkpoint, ModelDir: c.modelDir,
			ChatTemplate: chat, SystemPrompt: cfg.Task.SystemPrompt, IDsOnly: ids != ""})
		if err != nil {
			return err
		}
		m := s.Model
		var in []int32
		if ids != "" {
			for _, field := range strings.Split(ids, ",") {
				v, err := strconv.Atoi(strings.TrimSpace(field))
				if err != nil || v < 0 || v >= m.Cfg.Vocab {
					return fmt.Errorf("--ids: %q is not a token id below %d", field, m.Cfg.Vocab)
				}
				in = append(in, int32(v))
			}
		} else {
			in = s.Prompt(prompt)
		}
		gen, err := rollout.New(m, rollout.Config{BlockSize: memplan.KVBlockSize, NumBlocks: (len(in)+maxNew)/memplan.KVBlockSize + 8, MaxBatch: 1, EOS: s.EOS})
		if err != nil {
			return err
		}
		sp := backend.SampleParams{Temperature: float32(temp), TopP: 1}
		if greedy {
			sp.Temperature = 0
		}
		out, _, err := gen.Generate([][]int32{in}, 1, sp, maxNew, rand.New(rand.NewPCG(cfg.Seed, 7)))
		if err != nil {
			return err
		}
		// Without a tokenizer (--ids on a folder with no tokenizer.json)
		// there is no text: the ids are the output.
		res := map[string]any{"ids": out[0].Tokens, "finished": out[0].Finished}
		if s.Tok != nil {
			res["text"] = s.Tok.Decode(out[0].Tokens)
		}
		if c.json {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			return enc.Encode(res)
		}
		if s.Tok == nil {
			fmt.Fprintln(cmd.OutOrStdout(), out[0].Tokens)
			return nil
		}
		fmt.Fprintln(cmd.OutOrStdout(), res["text"])
		return nil
	}
	return cmd
}

func newTokenizeCmd() *cobra.Command {
	var tokFile, text string
	var asJSON bool
	cmd := &cobra.Command{Use: "tokenize", Short: "show the token ids of a text", Args: cobra.NoArgs}
	f := cmd.Flags()
	f.StringVar(&tokFile, "tokenizer", "", "a Hugging Face tokenizer.json (default: the built-in character vocabulary)")
	f.StringVar(&text, "text", "", "text to encode")
	f.BoolVar(&asJSON, "json", false, "print {\"ids\": [...]}")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var ids []int32
		if tokFile != "" {
			bpe, err := tokenizer.LoadBPE(tokFile)
			if err != nil {
				return err
			}
			ids = bpe.EncodeWithSpecial(text)
		} else {
			var err error
			if ids, err = tokenizer.NewChar().EncodeChecked(text); err != nil {
				return fmt.Errorf("--text: %w", err)
			}
		}
		if ids == nil {
			ids = []int32{}
		}
		if asJSON {
			return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{"ids": ids})
		}
		fmt.Fprintln(cmd.OutOrStdout(), ids)
		return nil
	}
	return cmd
}
