package supervise

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func entry(prompt string, step int, adv float32) Entry {
	return Entry{
		Prompt: prompt, Tokens: []int32{1, 2, 3}, Gate: []float32{0, 1, 1},
		Adv: []float32{0, adv, adv}, BehLogp: []float32{-0.5, -1.25, -2}, Step: step, Source: SourceRepaired,
	}
}

func prompts(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Prompt)
	}
	return out
}

func TestPoolFIFOAgeExclusion(t *testing.T) {
	p, err := NewPool(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "b", "c", "d"} {
		if err := p.Push(entry(name, i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if p.Len() != 3 {
		t.Fatalf("len %d, want capacity 3", p.Len())
	}
	cases := []struct {
		n, step int
		excl    map[string]bool
		want    []string
	}{
		{10, 3, nil, []string{"d", "c", "b"}}, // newest first, "a" dropped (FIFO)
		{2, 3, nil, []string{"d", "c"}},       // n caps the draw
		{10, 4, nil, []string{"d", "c"}},      // "b" (step 1) is 3 > a_max old
		{10, 3, map[string]bool{"c": true}, []string{"d", "b"}},
		{10, 9, nil, nil},
	}
	for _, c := range cases {
		if got := prompts(p.Sample(c.n, c.step, c.excl)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Sample(%d, %d, %v) = %v, want %v", c.n, c.step, c.excl, got, c.want)
		}
	}
	p.Evict(4)
	if p.Len() != 2 {
		t.Fatalf("after Evict(4) len %d, want 2", p.Len())
	}
}

func TestPoolRejects(t *testing.T) {
	p, _ := NewPool(4, 4)
	if err := p.Push(entry("x", 0, -1)); !errors.Is(err, ErrFailedTrajectory) {
		t.Errorf("negative advantage: %v", err)
	}
	e := entry("x", 0, 1)
	e.Source = SourceFailed
	if err := p.Push(e); !errors.Is(err, ErrFailedTrajectory) {
		t.Errorf("failed source: %v", err)
	}
	e = entry("x", 0, 1)
	e.BehLogp = e.BehLogp[:2]
	if err := p.Push(e); err == nil {
		t.Error("length mismatch accepted")
	}
	if p.Len() != 0 {
		t.Errorf("rejected entries stored: %d", p.Len())
	}
	if _, err := NewPool(0, 1); err == nil {
		t.Error("capacity 0 accepted")
	}
}

func TestISWeight(t *testing.T) {
	w := ISWeight([]float32{-1, -1, -3}, []float32{-1, -3, -1}, 3)
	want := []float64{1, 3, math.Exp(-2)}
	for i := range want {
		if !near(float64(w[i]), want[i], 1e-6) {
			t.Fatalf("ISWeight = %v, want %v", w, want)
		}
	}
	if ISWeight([]float32{1}, nil, 3) != nil {
		t.Error("length mismatch not refused")
	}
}

func TestPoolMarshalRoundTrip(t *testing.T) {
	p, _ := NewPool(5, 3)
	e := entry("π prompt", 7, 1)
	e.BehLogp[0] = float32(math.Inf(-1))
	e.Gate[0] = math.Float32frombits(0x7fc00001) // a NaN payload must survive
	_ = p.Push(e)
	_ = p.Push(entry("", 8, 0.5))
	e3 := entry("z", 9, 1)
	e3.Tokens, e3.Gate, e3.Adv, e3.BehLogp = nil, nil, nil, nil
	_ = p.Push(e3)
	data, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var q Pool
	if err := q.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if q.Cap() != 5 || q.MaxAge() != 3 || q.Len() != 3 {
		t.Fatalf("restored cap %d age %d len %d", q.Cap(), q.MaxAge(), q.Len())
	}
	again, _ := q.MarshalBinary()
	if string(again) != string(data) {
		t.Fatal("re-marshalled bytes differ")
	}
	got := q.Sample(10, 9, nil)
	if got[2].Prompt != "π prompt" || got[2].Step != 7 || math.Float32bits(got[2].Gate[0]) != 0x7fc00001 ||
		!math.IsInf(float64(got[2].BehLogp[0]), -1) || !reflect.DeepEqual(got[2].Tokens, e.Tokens) {
		t.Fatalf("restored entry %+v", got[2])
	}
	for cut := 0; cut < len(data); cut++ {
		if err := q.UnmarshalBinary(data[:cut]); err == nil {
			t.Fatalf("truncated data (%d of %d bytes) accepted", cut, len(data))
		}
	}
	if err := q.UnmarshalBinary(append(data, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if q.Len() != 3 {
		t.Fatal("failed unmarshal changed the pool")
	}
}
