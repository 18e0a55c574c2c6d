package task

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// mathRecord is one row of a data file with its position for messages.
type mathRecord struct {
	where  string // "row 3" or "line 7"
	fields map[string]any
}

// readMathRecords reads the rows of a .parquet file, a .jsonl file (one JSON
// object a line) or a .json file (an array of objects), at most limit rows
// when limit > 0. Errors name the file and the row or line.
func readMathRecords(path string, limit int) ([]mathRecord, error) {
	if strings.EqualFold(filepath.Ext(path), ".parquet") {
		return readParquetRecords(path, limit)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("task math: %w", err)
	}
	if strings.EqualFold(filepath.Ext(path), ".json") && bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")) {
		return readJSONArrayRecords(path, data, limit)
	}
	return readJSONLRecords(path, data, limit)
}

// decodeJSONObject decodes one JSON object keeping numbers as written.
func decodeJSONObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return m, nil
}

func readJSONLRecords(path string, data []byte, limit int) ([]mathRecord, error) {
	var out []mathRecord
	r := bufio.NewReader(bytes.NewReader(data))
	for line := 1; ; line++ {
		text, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(text)) > 0 {
			m, derr := decodeJSONObject(text)
			if derr != nil {
				return nil, fmt.Errorf("task math: %s: line %d: %v", path, line, derr)
			}
			out = append(out, mathRecord{where: fmt.Sprintf("line %d", line), fields: m})
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("task math: %s: no rows", path)
	}
	return out, nil
}

func readJSONArrayRecords(path string, data []byte, limit int) ([]mathRecord, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, fmt.Errorf("task math: %s: not a JSON array of objects: %v", path, err)
	}
	var out []mathRecord
	for i, raw := range raws {
		m, err := decodeJSONObject(raw)
		if err != nil {
			return nil, fmt.Errorf("task math: %s: row %d: %v", path, i+1, err)
		}
		out = append(out, mathRecord{where: fmt.Sprintf("row %d", i+1), fields: m})
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("task math: %s: no rows", path)
	}
	return out, nil
}

// readParquetRecords reads Parquet rows as maps (groups become maps, lists
// become slices). A panic of the Parquet library on a malformed file is
// returned as an error.
func readParquetRecords(path string, limit int) (out []mathRecord, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("task math: %s: malformed Parquet data: %v", path, r)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("task math: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("task math: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("task math: %s: not a readable Parquet file: %v", path, err)
	}
	n := pf.NumRows()
	if limit > 0 && int64(limit) < n {
		n = int64(limit)
	}
	if n == 0 {
		return nil, fmt.Errorf("task math: %s: no rows", path)
	}
	rd := parquet.NewGenericReader[any](pf)
	defer rd.Close()
	buf := make([]any, 256)
	for int64(len(out)) < n {
		k, err := rd.Read(buf[:min(int64(len(buf)), n-int64(len(out)))])
		for _, row := range buf[:k] {
			m, ok := row.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("task math: %s: row %d: not a record (%T)", path, len(out)+1, row)
			}
			out = append(out, mathRecord{where: fmt.Sprintf("row %d", len(out)+1), fields: m})
		}
		if err == io.EOF || (err == nil && k == 0) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("task math: %s: row %d: %v", path, len(out)+1, err)
		}
	}
	return out, nil
}

// lookupField finds a dotted key ("reward_model.ground_truth") in a row.
func lookupField(m map[string]any, key string) (any, bool) {
	var cur any = m
	for _, part := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[part]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// fieldNames lists a row's columns, nested ones as "a.b", sorted.
func fieldNames(m map[string]any) []string {
	var out []string
	for k, v := range m {
		out = append(out, k)
		if sub, ok := v.(map[string]any); ok {
			for _, s := range fieldNames(sub) {
				out = append(out, k+"."+s)
			}
		}
	}
	sort.Strings(out)
	return out
}
