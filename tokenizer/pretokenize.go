package tokenizer

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Pre-tokenizer regexes of the byte-level BPE tokenizers this package knows.
// Go's regexp has no lookahead, so each one is implemented by a hand-written
// scanner (splitRule.split) that follows the regex alternatives in order,
// with the same greedy and backtracking outcome.
const (
	// PatternQwen2 is the Split regex of Qwen2, Qwen2.5 and Qwen3: one
	// digit per piece.
	PatternQwen2 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// PatternLlama3 is the Split regex of Llama 3: up to three digits per piece.
	PatternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// PatternGPT2 is the regex of GPT-2 (and of the ByteLevel pre-tokenizer
	// with use_regex true): digit runs of any length with an optional space.
	PatternGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
)

// splitRule selects one of the known pre-tokenizer scanners.
type splitRule struct {
	// gpt2 selects the GPT-2 alternatives; otherwise the Qwen2/Llama 3 ones.
	gpt2 bool
	// maxDigits caps a digit piece (1 for Qwen2, 3 for Llama 3, 0: no cap).
	maxDigits int
}

// splitRuleFor returns the scanner that implements pattern, or an error for
// a pattern this package does not implement.
func splitRuleFor(pattern string) (splitRule, error) {
	switch pattern {
	case PatternQwen2:
		return splitRule{maxDigits: 1}, nil
	case PatternLlama3:
		return splitRule{maxDigits: 3}, nil
	case PatternGPT2:
		return splitRule{gpt2: true}, nil
	}
	return splitRule{}, fmt.Errorf("unsupported Split pre-tokenizer regex %q (known: GPT-2, Qwen2, Llama 3)", pattern)
}

// Character classes of the regexes. \s is Unicode White_Space, as in the
// Oniguruma engine of Hugging Face tokenizers (U+0085 included, U+FEFF not).
func isL(r rune) bool     { return unicode.IsLetter(r) }
func isN(r rune) bool     { return unicode.IsNumber(r) }
func isS(r rune) bool     { return unicode.IsSpace(r) }
func isNL(r rune) bool    { return r == '\r' || r == '\n' }
func isOther(r rune) bool { return !isS(r) && !isL(r) && !isN(r) }

// lowerASCII folds A-Z to a-z and leaves every other rune alone, like the
// (?i:...) contraction group as the reference encoders apply it.
func lowerASCII(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + ('a' - 'A')
	}
	return r
}

// split cuts s into pre-tokens; every byte of s lands in exactly one piece,
// in order. Invalid UTF-8 bytes count as "other" characters.
func (sr splitRule) split(s string) []string {
	rs := make([]rune, 0, len(s))
	off := make([]int, 0, len(s)+1)
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		rs = append(rs, r)
		off = append(off, i)
		i += w
	}
	off = append(off, len(s))
	var out []string
	for i := 0; i < len(rs); {
		var j int
		if sr.gpt2 {
			j = matchGPT2(rs, i)
		} else {
			j = matchQwen(rs, i, sr.maxDigits)
		}
		out = append(out, s[off[i]:off[j]])
		i = j
	}
	return out
}

// run returns the end of the run of runes from i that satisfy f.
func run(rs []rune, i int, f func(rune) bool) int {
	for i < len(rs) && f(rs[i]) {
		i++
	}
	return i
}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d at i (ASCII case folded when
// fold is set) and returns its end, or i when there is none.
func contraction(rs []rune, i int, fold bool) int {
	if rs[i] != '\'' || i+1 >= len(rs) {
		return i
	}
	low := func(r rune) rune {
		if fold {
			return lowerASCII(r)
		}
		return r
	}
	switch low(rs[i+1]) {
	case 's', 't', 'm', 'd':
		return i + 2
	case 'r', 'v':
		if i+2 < len(rs) && low(rs[i+2]) == 'e' {
			return i + 3
		}
	case 'l':
		if i+2 < len(rs) && low(rs[i+2]) == 'l' {
			return i + 3
		}
	}
	return i
}

// matchSpaces implements \s+(?!\S)|\s+ at i (rs[i] must be a space).
func matchSpaces(rs []rune, i int) int {
	j := run(rs, i, isS)
	if j < len(rs) && j-i >= 2 {
		return j - 1 // \s+(?!\S): give back the space before a non-space
	}
	return j
}

// matchQwen returns the end of the piece at i for PatternQwen2 (maxDigits
// 1) and PatternLlama3 (maxDigits 3).
func matchQwen(rs []rune, i, maxDigits int) int {
	n := len(rs)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if j := contraction(rs, i, true); j > i {
		return j
	}
	r := rs[i]
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(r) {
		return run(rs, i, isL)
	}
	if !isNL(r) && !isN(r) && i+1 < n && isL(rs[i+1]) {
		return run(rs, i+1, isL)
	}
	// \p{N} or \p{N}{1,3}
	if isN(r) {
		j := run(rs, i, isN)
		if maxDigits > 0 && j-i > maxDigits {
			j = i + maxDigits
		}
		return j
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	k := i
	if r == ' ' && i+1 < n && isOther(rs[i+1]) {
		k = i + 1
	}
	if isOther(rs[k]) {
		return run(rs, run(rs, k, isOther), isNL)
	}
	// r is a space here. \s*[\r\n]+ ends after the last newline of the run.
	j := run(rs, i, isS)
	for k := j - 1; k >= i; k-- {
		if isNL(rs[k]) {
			return k + 1
		}
	}
	return matchSpaces(rs, i)
}

// matchGPT2 returns the end of the piece at i for PatternGPT2.
func matchGPT2(rs []rune, i int) int {
	if j := contraction(rs, i, false); j > i {
		return j
	}
	// ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' in that order.
	for _, f := range [...]func(rune) bool{isL, isN, isOther} {
		k := i
		if rs[i] == ' ' && i+1 < len(rs) && f(rs[i+1]) {
			k = i + 1
		}
		if f(rs[k]) {
			return run(rs, k, f)
		}
	}
	return matchSpaces(rs, i)
}

// byteLevelAlphabet returns the GPT-2 map from bytes to printable runes:
// printable Latin-1 bytes map to themselves, the other 68 to U+0100 onwards.
func byteLevelAlphabet() [256]rune {
	var m [256]rune
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	next := rune(256)
	for b := 0; b < 256; b++ {
		if printable(b) {
			m[b] = rune(b)
		} else {
			m[b] = next
			next++
		}
	}
	return m
}
