package task

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestExtractMathAnswer(t *testing.T) {
	cases := []struct {
		name, in, want string
		ok             bool
	}{
		{"boxed", `so the answer is $\boxed{42}$.`, "42", true},
		{"last boxed wins", `\boxed{1} then \boxed{2}`, "2", true},
		{"nested braces", `\boxed{\frac{3}{4}}`, `\frac{3}{4}`, true},
		{"escaped brace", `\boxed{\{1,2\}}`, `\{1,2\}`, true},
		{"boxed with space", `\boxed 7 is it`, "7", true},
		{"boxed before gsm", "#### 5\n\\boxed{6}", "6", true},
		{"fbox", `\fbox{x+1}`, "x+1", true},
		{"unbalanced last falls back", `\boxed{3} and \boxed{4`, "3", true},
		{"empty boxed ignored", `\boxed{} 12`, "12", true},
		{"gsm8k", "She has 3+4=7 apples.\n#### 7", "7", true},
		{"gsm8k comma", "#### 1,234\n", "1,234", true},
		{"gsm8k last line only", "#### 8 apples\nthanks", "8 apples", true},
		{"last number", "3 apples and 4 pears, total 7.", "7", true},
		{"last decimal", "it costs $2.50", "2.50", true},
		{"negative", "the result is -12", "-12", true},
		{"minus operator", "5-3", "3", true},
		{"fraction", "ratio 3/4", "3/4", true},
		{"thousands", "about 1,000,000 people", "1,000,000", true},
		{"no answer", "I do not know.", "", false},
		{"empty", "", "", false},
		{"boxedx is not boxed", `\boxedx{5} 6`, "6", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ExtractMathAnswer(c.in)
			if got != c.want || ok != c.ok {
				t.Errorf("ExtractMathAnswer(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
			}
		})
	}
}

func TestMathAnswersEqual(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"0.75", "3/4", true},
		{`\frac34`, "0.75", true},
		{`\frac{3}{4}`, `\dfrac{3}{4}`, true},
		{`\tfrac{6}{8}`, "3/4", true},
		{`-\frac{1}{2}`, "-0.5", true},
		{`\frac{-1}{2}`, "-1/2", true},
		{"1.50", "1.5", true},
		{"1.5", "3/2", true},
		{"1,000", "1000", true},
		{"1{,}000", "1000", true},
		{"+7", "7", true},
		{"7.0", "7", true},
		{".5", "1/2", true},
		{"$5$", "5", true},
		{`\(5\)`, "5", true},
		{`\left( 1, 2 \right)`, "(1,2)", true},
		{`3\!\,000`, "3000", true},
		{`\text{Monday}`, "Monday", true},
		{`10 \text{ cm}`, "10", true},
		{`30^\circ`, "30", true},
		{`30^{\circ}`, "30°", true},
		{`50\%`, "50", true},
		{"x = 5", "5", true},
		{`\boxed{12}`, "12", true},
		{"5.", "5", true},
		{`\sqrt3`, `\sqrt{3}`, true},
		{`\frac{\sqrt3}{2}`, `\frac{\sqrt{3}}{2}`, true},
		{`2 \pi`, `2\pi`, true},
		// Not equivalent.
		{"0.333", "1/3", false},
		{"3/4", "4/3", false},
		{"1,2", "12", false},
		{"-5", "5", false},
		{"", "", false},
		{"12", "", false},
		{"5", "5.01", false},
		{`\frac{1}{0}`, `\dfrac{1}{0}`, true}, // not a number: equal as text only
		{`\frac{1}{0}`, "1/0", false},
		{`\leftarrow`, "arrow", false},
		{"y = 2x", "2x", true},
		{"abc = 3", "3", false},
	}
	for _, c := range cases {
		if got := MathAnswersEqual(c.a, c.b); got != c.want {
			t.Errorf("MathAnswersEqual(%q, %q) = %v, want %v (normalised %q, %q)",
				c.a, c.b, got, c.want, NormalizeMathAnswer(c.a), NormalizeMathAnswer(c.b))
		}
		if MathAnswersEqual(c.a, c.b) != MathAnswersEqual(c.b, c.a) {
			t.Errorf("MathAnswersEqual(%q, %q) is not symmetric", c.a, c.b)
		}
	}
}

func TestNormalizeMathAnswer(t *testing.T) {
	cases := map[string]string{
		"0.75":             "3/4",
		"-0.5":             "-1/2",
		"1,234,567":        "1234567",
		`\frac{10}{4}`:     "5/2",
		`\frac{4}{2}`:      "2",
		"2.5/0.5":          "5",
		`\frac12`:          "1/2",
		`\frac1{x}`:        `\frac{1}{x}`,
		`\text{(A)}`:       "(A)",
		`\left[0,1\right)`: "[0,1)",
		"  x=  -3 ":        "-3",
	}
	for in, want := range cases {
		if got := NormalizeMathAnswer(in); got != want {
			t.Errorf("NormalizeMathAnswer(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMathGroundTruth(t *testing.T) {
	cases := map[string]string{
		"72":                            "72",
		"He has 3 apples.\n#### 3":      "3",
		`So it is $\boxed{\frac12}$.`:   `\frac12`,
		`  \frac{3}{4} `:                `\frac{3}{4}`,
		"The answer has no mark 5 or 6": "The answer has no mark 5 or 6",
	}
	for in, want := range cases {
		if got := mathGroundTruth(in); got != want {
			t.Errorf("mathGroundTruth(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzExtractMathAnswer(f *testing.F) {
	for _, s := range []string{`\boxed{\frac{1}{2}}`, "#### 12", "x = -3.5", `\boxed{{}`, `\fbox 3`, "1,000/3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := ExtractMathAnswer(s)
		if ok && (a == "" || !strings.Contains(s, a)) {
			t.Fatalf("ExtractMathAnswer(%q) = %q: empty or not a substring", s, a)
		}
		if !ok && a != "" {
			t.Fatalf("ExtractMathAnswer(%q) returned %q with ok=false", s, a)
		}
	})
}

func FuzzNormalizeMathAnswer(f *testing.F) {
	for _, s := range []string{`\frac34`, "1,000.50", `\left(\dfrac{-1}{2}\right)`, `\text{ cm}`, "x=5", `\sqrt3`, `\frac{`, "0/0", "99999999999999999999/3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeMathAnswer(s)
		if utf8.ValidString(s) && !utf8.ValidString(n) {
			t.Fatalf("NormalizeMathAnswer(%q) = %q is invalid UTF-8", s, n)
		}
		if nn := NormalizeMathAnswer(n); nn != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, nn)
		}
		if n != "" && !MathAnswersEqual(s, s) {
			t.Fatalf("MathAnswersEqual(%q, itself) is false", s)
		}
	})
}
