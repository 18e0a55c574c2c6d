package task

import (
	"math/big"
	"regexp"
	"strings"
	"unicode"
)

// Math answer extraction, normalisation and equivalence for real data
// (GSM8K, MATH and their verl/TRL derivatives).

// ExtractMathAnswer returns the final answer of a math response: the content
// of the last \boxed{...} (or \fbox{...}, braces balanced), else the text
// after the last "####" on its line (GSM8K), else the last number. ok is
// false when there is none. The answer is always a substring of response.
func ExtractMathAnswer(response string) (answer string, ok bool) {
	if a, ok := lastBoxed(response); ok {
		return a, true
	}
	if i := strings.LastIndex(response, "####"); i >= 0 {
		rest := response[i+4:]
		if j := strings.IndexAny(rest, "\r\n"); j >= 0 {
			rest = rest[:j]
		}
		if a := strings.TrimSpace(rest); a != "" {
			return a, true
		}
	}
	return lastNumber(response)
}

// mathGroundTruth reads the answer column of a data set: the content of a
// \boxed{} or the text after "####" when the column holds a whole solution,
// else the trimmed text itself.
func mathGroundTruth(s string) string {
	if a, ok := lastBoxed(s); ok {
		return a
	}
	if i := strings.LastIndex(s, "####"); i >= 0 {
		if a := strings.TrimSpace(s[i+4:]); a != "" {
			return a
		}
	}
	return strings.TrimSpace(s)
}

// lastBoxed returns the content of the last well-formed \boxed or \fbox:
// "\boxed{...}" with balanced braces, or "\boxed 5" up to the next space or
// dollar sign.
func lastBoxed(s string) (string, bool) {
	end := len(s)
	for {
		i := max(strings.LastIndex(s[:end], `\boxed`), strings.LastIndex(s[:end], `\fbox`))
		if i < 0 {
			return "", false
		}
		end = i
		cmdEnd := i + len(`\boxed`)
		if strings.HasPrefix(s[i:], `\fbox`) {
			cmdEnd = i + len(`\fbox`)
		}
		if cmdEnd < len(s) && isASCIILetter(s[cmdEnd]) {
			continue // a longer command name
		}
		j := cmdEnd
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j < len(s) && s[j] == '{' {
			if c, ok := braced(s, j); ok && strings.TrimSpace(c) != "" {
				return strings.TrimSpace(c), true
			}
			continue
		}
		k := j
		for k < len(s) && s[k] != '$' && !unicode.IsSpace(rune(s[k])) {
			k++
		}
		if j > cmdEnd && k > j {
			return s[j:k], true
		}
	}
}

// braced returns the text inside the brace group opening at s[open], with
// backslash-escaped characters (\{, \}) not counted.
func braced(s string, open int) (string, bool) {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return s[open+1 : i], true
			}
		}
	}
	return "", false
}

// numberRE matches a number: optional sign, digits with optional thousands
// commas, optional decimals, optional "/denominator".
var numberRE = regexp.MustCompile(`[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|[-+]?\.\d+`)

// lastNumber returns the last number of s. A sign glued to a preceding
// letter, digit or bracket ("5-3", "x-1") is an operator and is dropped.
func lastNumber(s string) (string, bool) {
	all := numberRE.FindAllStringIndex(s, -1)
	if len(all) == 0 {
		return "", false
	}
	m := all[len(all)-1]
	a, b := m[0], m[1]
	if (s[a] == '-' || s[a] == '+') && a > 0 {
		if p := rune(s[a-1]); unicode.IsLetter(p) || unicode.IsDigit(p) || p == ')' || p == ']' || p == '}' {
			a++
		}
	}
	return s[a:b], true
}

// removeCommand deletes the LaTeX command \name wherever it is not the start
// of a longer command name (\left but not \leftarrow).
func removeCommand(s, name string) string {
	cmd := `\` + name
	var b strings.Builder
	for {
		i := strings.Index(s, cmd)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := i + len(cmd)
		b.WriteString(s[:i])
		if j < len(s) && isASCIILetter(s[j]) {
			b.WriteString(cmd)
		}
		s = s[j:]
	}
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// unwrapCommand replaces \name{X} by X for every well-formed occurrence.
func unwrapCommand(s, name string) string {
	cmd := `\` + name + `{`
	for from := 0; ; {
		i := strings.Index(s[from:], cmd)
		if i < 0 {
			return s
		}
		i += from
		inner, ok := braced(s, i+len(cmd)-1)
		if !ok {
			return s
		}
		s = s[:i] + inner + s[i+len(cmd)+len(inner)+1:]
		from = i
	}
}

// cleanLatex applies one round of the textual normalisations.
func cleanLatex(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, `\boxed{`) {
		if c, ok := braced(s, len(`\boxed`)); ok && len(c)+len(`\boxed{}`) == len(s) {
			s = c
		}
	}
	// Units written as "5 \text{ cm}" (MATH style): keep what precedes.
	if i := strings.Index(s, `\text{ `); i > 0 {
		s = s[:i]
	}
	for _, name := range []string{"text", "textbf", "textrm", "mathrm", "mathbf", "mbox"} {
		s = unwrapCommand(s, name)
	}
	s = strings.NewReplacer(
		`\$`, "", "$", "", `\(`, "", `\)`, "", `\[`, "", `\]`, "",
		`\!`, "", `\,`, "", `\;`, "", `\:`, "", `\ `, "", `\\`, "", "~", "",
		`^{\circ}`, "", `^\circ`, "", "°", "", `\%`, "", "%", "", "{,}", "",
	).Replace(s)
	for _, name := range []string{"left", "right", "displaystyle", "degree", "circ"} {
		s = removeCommand(s, name)
	}
	for _, f := range []string{"dfrac", "tfrac"} {
		s = strings.ReplaceAll(s, `\`+f, `\frac`)
	}
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, ".")
	// "x = 5": a short variable name on the left is dropped.
	if lhs, rhs, ok := strings.Cut(s, "="); ok && !strings.Contains(rhs, "=") {
		if l := strings.TrimSpace(lhs); len(l) > 0 && len(l) <= 2 && isASCIILetter(l[0]) {
			s = rhs
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimPrefix(s, "+")
	return s
}

// fixFracShorthand rewrites \frac12 as \frac{1}{2} and \sqrt3 as \sqrt{3}
// (single letter or digit arguments without braces), inside braces too.
func fixFracShorthand(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], `\frac`):
			b.WriteString(`\frac`)
			i += len(`\frac`)
			for arg := 0; arg < 2 && i < len(s); arg++ {
				if s[i] == '{' {
					c, ok := braced(s, i)
					if !ok {
						break
					}
					b.WriteString("{" + fixFracShorthand(c) + "}")
					i += len(c) + 2
				} else if isASCIILetter(s[i]) || s[i] >= '0' && s[i] <= '9' {
					b.WriteString("{" + s[i:i+1] + "}")
					i++
				} else {
					break
				}
			}
		case strings.HasPrefix(s[i:], `\sqrt`) && i+5 < len(s) && s[i+5] >= '0' && s[i+5] <= '9':
			b.WriteString(`\sqrt{` + s[i+5:i+6] + "}")
			i += 6
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// Number forms accepted by the rational parser.
var (
	thousandsRE = regexp.MustCompile(`^-?\d{1,3}(,\d{3})+(\.\d+)?$`)
	decimalRE   = regexp.MustCompile(`^-?(\d+(\.\d*)?|\.\d+)$`)
	fracRE      = regexp.MustCompile(`^(-?)\\frac\{(-?[\d.]+)\}\{(-?[\d.]+)\}$`)
	slashRE     = regexp.MustCompile(`^(-?[\d.]+)/(-?[\d.]+)$`)
)

// maxNumericLen bounds the answers parsed as exact rationals.
const maxNumericLen = 400

// parseDecimal parses a decimal string (already checked by decimalRE).
func parseDecimal(s string) (*big.Rat, bool) {
	if !decimalRE.MatchString(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// mathRational parses a normalised answer that is a number: an integer, a
// decimal, a/b or \frac{a}{b} with numeric a and b, each with a sign.
func mathRational(s string) (*big.Rat, bool) {
	if len(s) > maxNumericLen {
		return nil, false
	}
	if thousandsRE.MatchString(s) {
		s = strings.ReplaceAll(s, ",", "")
	}
	if r, ok := parseDecimal(s); ok {
		return r, true
	}
	neg := ""
	var num, den string
	if m := fracRE.FindStringSubmatch(s); m != nil {
		neg, num, den = m[1], m[2], m[3]
	} else if m := slashRE.FindStringSubmatch(s); m != nil {
		num, den = m[1], m[2]
	} else {
		return nil, false
	}
	n, ok1 := parseDecimal(num)
	d, ok2 := parseDecimal(den)
	if !ok1 || !ok2 || d.Sign() == 0 {
		return nil, false
	}
	r := n.Quo(n, d)
	if neg != "" {
		r.Neg(r)
	}
	return r, true
}

// NormalizeMathAnswer returns a canonical form of an answer: math
// delimiters, spacing commands, \left/\right, \text{}, degrees, percent
// signs, a leading "+", a short "x =" and whitespace removed; \dfrac and
// \tfrac as \frac with braced arguments; and numbers (thousands commas,
// decimals, fractions, \frac{a}{b}) as exact rationals in lowest terms
// ("0.75", "3/4" and "\frac34" all become "3/4"; "1.50" becomes "3/2").
func NormalizeMathAnswer(s string) string {
	for range 8 { // the textual rules until nothing changes
		next := fixFracShorthand(cleanLatex(s))
		if next == s {
			break
		}
		s = next
	}
	if r, ok := mathRational(s); ok {
		if r.IsInt() {
			return r.Num().String()
		}
		return r.RatString()
	}
	return s
}

// MathAnswersEqual reports whether two answers are equivalent: equal after
// NormalizeMathAnswer, and neither empty.
func MathAnswersEqual(a, b string) bool {
	na, nb := NormalizeMathAnswer(a), NormalizeMathAnswer(b)
	return na != "" && na == nb
}
