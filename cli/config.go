package cli

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/sirl-dev/sirl/configs"
	"github.com/sirl-dev/sirl/gpu"
	"github.com/sirl-dev/sirl/train"
)

// flatten turns a nested map into dotted keys.
func flatten(prefix string, m map[string]any, out map[string]any) {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			flatten(key, sub, out)
			continue
		}
		out[key] = v
	}
}

// defaultKeys returns every config key with its default value.
func defaultKeys() (map[string]any, error) {
	raw, err := yaml.Marshal(train.Defaults())
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := map[string]any{}
	flatten("", m, out)
	// Keys marshalled with omitempty (unset) are missing above: they get
	// their type's zero value.
	zero := map[string]any{}
	zeroKeys(reflect.TypeOf(train.Config{}), "", zero)
	for k, z := range zero {
		if _, ok := out[k]; !ok {
			out[k] = z
		}
	}
	return out, nil
}

// walkKeys calls leaf for every leaf key of a config type: its dotted name
// (yaml tags) and its kind.
func walkKeys(t reflect.Type, prefix string, leaf func(name string, k reflect.Kind)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		if f.Type.Kind() == reflect.Struct {
			walkKeys(f.Type, name, leaf)
			continue
		}
		leaf(name, f.Type.Kind())
	}
}

// zeroKeys maps every leaf key of a config type to the zero value of its
// kind as a YAML round trip decodes it (float64, int, string, bool, []any).
func zeroKeys(t reflect.Type, prefix string, out map[string]any) {
	walkKeys(t, prefix, func(name string, k reflect.Kind) {
		switch k {
		case reflect.Float32, reflect.Float64:
			out[name] = 0.0
		case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint64, reflect.Uint32, reflect.Uint:
			out[name] = 0
		case reflect.String:
			out[name] = ""
		case reflect.Bool:
			out[name] = false
		case reflect.Slice:
			out[name] = []any{}
		}
	})
}

// floatKeys returns the dotted keys whose Config field is a float, so that a
// float key whose default happens to be whole (rl.temperature: 1) still gets
// a float flag: the YAML round trip of defaultKeys decodes 1.0 as an int.
func floatKeys(t reflect.Type, prefix string, out map[string]bool) {
	walkKeys(t, prefix, func(name string, k reflect.Kind) {
		if k == reflect.Float32 || k == reflect.Float64 {
			out[name] = true
		}
	})
}

// addConfigFlags registers a --flag for every config key (dotted names).
func addConfigFlags(fs *pflag.FlagSet) error {
	keys, err := defaultKeys()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	floats := map[string]bool{}
	floatKeys(reflect.TypeOf(train.Config{}), "", floats)
	for _, k := range names {
		if fs.Lookup(k) != nil {
			continue
		}
		usage := usageOf(k)
		switch v := keys[k].(type) {
		case bool:
			fs.Bool(k, v, usage)
		case int:
			if floats[k] {
				fs.Float64(k, float64(v), usage)
			} else {
				fs.Int(k, v, usage)
			}
		case float64:
			fs.Float64(k, v, usage)
		case string:
			fs.String(k, v, usage)
		case []any:
			def := make([]string, len(v))
			for i, s := range v {
				def[i] = fmt.Sprint(s)
			}
			fs.StringSlice(k, def, usage)
		default:
			fs.String(k, fmt.Sprint(v), usage)
		}
	}
	return nil
}

// loadConfig resolves defaults < file (or the embedded quickstart) <
// SIRL_<KEY> env vars < flags, rejecting unknown keys and bad values with an
// error that names the key (and the file).
func loadConfig(fs *pflag.FlagSet, path string) (train.Config, error) {
	return loadConfigFrom(fs, path, false)
}

// loadConfigFrom is loadConfig; resolved marks a run folder's config.yaml,
// where every key is explicit, so that no key is derived from another.
func loadConfigFrom(fs *pflag.FlagSet, path string, resolved bool) (train.Config, error) {
	var cfg train.Config
	keys, err := defaultKeys()
	if err != nil {
		return cfg, err
	}
	v := viper.New()
	v.SetConfigType("yaml")
	for k, d := range keys {
		v.SetDefault(k, d)
	}
	v.SetEnvPrefix("SIRL")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	name := path
	var data []byte
	if path == "" {
		name = "configs/quickstart.yaml (embedded)"
		data, err = configs.FS.ReadFile("quickstart.yaml")
	} else if strings.HasPrefix(path, "configs/") && !fileExists(path) {
		data, err = configs.FS.ReadFile(strings.TrimPrefix(path, "configs/"))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", name, err)
	}
	var fileMap map[string]any
	if err := yaml.Unmarshal(data, &fileMap); err != nil {
		return cfg, fmt.Errorf("config %s: not valid YAML: %w", name, err)
	}
	flat := map[string]any{}
	flatten("", fileMap, flat)
	for k := range flat {
		if _, ok := keys[k]; !ok {
			return cfg, fmt.Errorf("config %s: unknown key %q", name, k)
		}
	}
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return cfg, fmt.Errorf("config %s: %w", name, err)
	}
	for _, env := range os.Environ() {
		if !strings.HasPrefix(env, "SIRL_") {
			continue
		}
		envKey := strings.SplitN(env, "=", 2)[0]
		if !knownEnv(envKey, keys) {
			return cfg, fmt.Errorf("environment variable %s: no such config key", envKey)
		}
	}
	if fs != nil {
		var bindErr error
		fs.VisitAll(func(f *pflag.Flag) {
			if _, ok := keys[f.Name]; ok && f.Changed {
				if err := v.BindPFlag(f.Name, f); err != nil && bindErr == nil {
					bindErr = err
				}
			}
		})
		if bindErr != nil {
			return cfg, bindErr
		}
	}
	if err := v.UnmarshalExact(&cfg); err != nil {
		return cfg, decodeError(name, fs, err)
	}
	if !resolved {
		userSet := func(k string) bool {
			_, inFile := flat[k]
			_, inEnv := os.LookupEnv("SIRL_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_")))
			return inFile || inEnv || (fs != nil && fs.Changed(k))
		}
		followEpsilon(&cfg, userSet)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", name, err)
	}
	return cfg, nil
}

// followEpsilon gives GSPO's sequence clip range the token-level range a
// user set (rl.epsilon, rl.epsilon_high) when the GSPO keys are not set, so
// that a user's value reaches GSPO and is recorded in config.yaml.
func followEpsilon(cfg *train.Config, userSet func(key string) bool) {
	if userSet("rl.epsilon") && !userSet("rl.gspo_epsilon") {
		cfg.RL.GSPOEpsilon = cfg.RL.Epsilon
	}
	if userSet("rl.epsilon_high") && !userSet("rl.gspo_epsilon_high") {
		cfg.RL.GSPOEpsilonHigh = cfg.RL.EpsilonHigh
	}
}

// knownEnv reports whether SIRL_X names a config key (or a reserved var).
func knownEnv(env string, keys map[string]any) bool {
	name := strings.ToLower(strings.TrimPrefix(env, "SIRL_"))
	switch name {
	case "require_tokref", "cache_dir":
		return true
	}
	if slices.Contains(gpu.EnvVars(), env) { // the GPU engine's own variables
		return true
	}
	for k := range keys {
		if strings.ReplaceAll(k, ".", "_") == name {
			return true
		}
	}
	return false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// configYAML renders a resolved config for config.yaml.
func configYAML(cfg train.Config) ([]byte, error) {
	if reflect.ValueOf(cfg).IsZero() {
		return nil, fmt.Errorf("empty config")
	}
	return yaml.Marshal(cfg)
}

// decodeError is one line for a value that does not decode into its key:
// the first failing element, how many more failed, and where the value came
// from: the --flag given (and its value) when a flag set the key, else the
// config file.
func decodeError(name string, fs *pflag.FlagSet, err error) error {
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "*"))
		if l != "" && !strings.HasPrefix(l, "decoding failed due to") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	if len(lines) == 0 {
		return fmt.Errorf("config %s: %w", name, err)
	}
	msg := lines[0]
	if len(lines) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(lines)-1)
	}
	src := "config " + name
	if fs != nil {
		fs.Visit(func(f *pflag.Flag) {
			if strings.HasPrefix(lines[0], "'"+f.Name+"'") || strings.HasPrefix(lines[0], "'"+f.Name+"[") {
				src = fmt.Sprintf("flag --%s %q", f.Name, f.Value.String())
			}
		})
	}
	return fmt.Errorf("%s: %s", src, msg)
}
