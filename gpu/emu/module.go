//go:build cudaemu

package emu

import (
	"fmt"
	"sort"
	"unsafe"
)

// Limits of the emulated device (those of an H100).
const (
	MaxThreadsPerBlock  = 1024
	DefaultDynShared    = 48 << 10  // dynamic shared memory without opt-in
	MaxDynSharedOptIn   = 227 << 10 // cuFuncSetAttribute cap
	maxGridX            = 1<<31 - 1
	maxGridYZ           = 65535
	maxBlockXY, maxBlkZ = 1024, 64
)

// Module is one loaded kernel library (every translation unit of a Load).
type Module struct {
	dev     *Device
	lib     *lib
	path    string
	cached  bool
	kernels map[string]*Kernel
	names   []string
}

// Kernel is one entry point of a Module.
type Kernel struct {
	mod    *Module
	idx    int
	info   kernelInfo
	maxDyn int
}

// Load compiles the translation units (file name -> source) with the
// headers they include (include name -> source), through the disk cache,
// and loads the library.
func (d *Device) Load(units, headers map[string]string) (*Module, error) {
	path, hit, err := d.build(units, headers)
	if err != nil {
		return nil, err
	}
	l, err := openLib(path)
	if err != nil {
		return nil, err
	}
	m := &Module{dev: d, lib: l, path: path, cached: hit, kernels: map[string]*Kernel{}}
	for i, k := range l.kernels() {
		if _, dup := m.kernels[k.name]; dup {
			l.close()
			return nil, fmt.Errorf("emu: kernel %s is defined twice in %s", k.name, path)
		}
		m.kernels[k.name] = &Kernel{mod: m, idx: i, info: k, maxDyn: DefaultDynShared}
		m.names = append(m.names, k.name)
	}
	sort.Strings(m.names)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		l.close()
		return nil, fmt.Errorf("emu: Load on a closed device")
	}
	if !hit {
		d.compiles++
	}
	d.modules = append(d.modules, m)
	return m, nil
}

// Kernel returns the entry point called name.
func (m *Module) Kernel(name string) (*Kernel, error) {
	k, ok := m.kernels[name]
	if !ok {
		return nil, fmt.Errorf("emu: no kernel %q in %s (CUDA_ERROR_NOT_FOUND)", name, m.path)
	}
	return k, nil
}

// Names returns every kernel entry point, sorted.
func (m *Module) Names() []string { return append([]string(nil), m.names...) }

// FromCache reports whether Load found the library in the disk cache.
func (m *Module) FromCache() bool { return m.cached }

// Path is the shared library's file.
func (m *Module) Path() string { return m.path }

// Name is the kernel's name.
func (k *Kernel) Name() string { return k.info.name }

// MaxThreads is the kernel's __launch_bounds__, or 1024 without one.
func (k *Kernel) MaxThreads() int {
	if k.info.bounds > 0 {
		return min(k.info.bounds, MaxThreadsPerBlock)
	}
	return MaxThreadsPerBlock
}

// ParamSizes returns the size in bytes of each parameter, from the
// kernel's signature.
func (k *Kernel) ParamSizes() []int { return append([]int(nil), k.info.sizes...) }

// SetMaxDynamicShared raises (or lowers) the dynamic shared memory a
// launch of k may use, as cuFuncSetAttribute with
// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
func (k *Kernel) SetMaxDynamicShared(bytes int) error {
	if bytes < 0 || bytes > MaxDynSharedOptIn {
		return fmt.Errorf("emu: cuFuncSetAttribute(%s, MAX_DYNAMIC_SHARED_SIZE_BYTES, %d): CUDA_ERROR_INVALID_VALUE "+
			"(at most %d)", k.info.name, bytes, MaxDynSharedOptIn)
	}
	k.mod.dev.mu.Lock()
	k.maxDyn = bytes
	k.mod.dev.mu.Unlock()
	return nil
}

// Launch runs k to completion. args is the void** array the engine gives
// cuLaunchKernel: args[i] points to the value of parameter i, read with
// the size of parameter i's type.
func (d *Device) Launch(k *Kernel, grid, block [3]int, dynSmem int, args unsafe.Pointer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("emu: launch of %s on a closed device", k.info.name)
	}
	name := k.info.name
	cfg := fmt.Sprintf("grid (%d,%d,%d) block (%d,%d,%d)", grid[0], grid[1], grid[2], block[0], block[1], block[2])
	for i, g := range grid {
		lim := maxGridYZ
		if i == 0 {
			lim = maxGridX
		}
		if g < 1 || g > lim {
			return fmt.Errorf("emu: kernel %s %s: grid dimension %d is %d, outside [1, %d] "+
				"(CUDA_ERROR_INVALID_VALUE)", name, cfg, i, g, lim)
		}
	}
	for i, b := range block {
		lim := maxBlockXY
		if i == 2 {
			lim = maxBlkZ
		}
		if b < 1 || b > lim {
			return fmt.Errorf("emu: kernel %s %s: block dimension %d is %d, outside [1, %d] "+
				"(CUDA_ERROR_INVALID_VALUE)", name, cfg, i, b, lim)
		}
	}
	threads := block[0] * block[1] * block[2]
	if threads > k.MaxThreads() {
		return fmt.Errorf("emu: kernel %s %s: %d threads per block exceed the kernel's limit of %d "+
			"(__launch_bounds__ or 1024; CUDA_ERROR_INVALID_VALUE)", name, cfg, threads, k.MaxThreads())
	}
	if dynSmem < 0 || dynSmem > k.maxDyn {
		return fmt.Errorf("emu: kernel %s %s: %d bytes of dynamic shared memory exceed the %d allowed "+
			"(cuFuncSetAttribute MAX_DYNAMIC_SHARED_SIZE_BYTES; CUDA_ERROR_INVALID_VALUE)", name, cfg, dynSmem, k.maxDyn)
	}
	if args == nil && len(k.info.sizes) > 0 {
		return fmt.Errorf("emu: kernel %s: nil argument array for %d parameters", name, len(k.info.sizes))
	}
	vals := make([][]byte, len(k.info.sizes))
	for i, sz := range k.info.sizes {
		vp := *(*unsafe.Pointer)(unsafe.Add(args, 8*i))
		if vp == nil {
			return fmt.Errorf("emu: kernel %s: args[%d] is nil", name, i)
		}
		// A value that runs into the next parameter's was packed with a
		// smaller type than the kernel's parameter (an int for an i64).
		if i+1 < len(k.info.sizes) {
			next := uintptr(*(*unsafe.Pointer)(unsafe.Add(args, 8*(i+1))))
			if gap := next - uintptr(vp); next > uintptr(vp) && gap < uintptr(sz) {
				return fmt.Errorf("emu: kernel %s: parameter %d is %d bytes, but parameter %d's value starts %d bytes "+
					"after its value: it was packed with a smaller type", name, i, sz, i+1, gap)
			}
		}
		vals[i] = unsafe.Slice((*byte)(vp), sz)
		if k.info.isPtr[i] {
			p := *(*uintptr)(vp)
			if p != 0 {
				if _, ok := d.find(p, 0); !ok {
					return fmt.Errorf("emu: kernel %s %s: pointer parameter %d (%#x) is outside every allocation",
						name, cfg, i, p)
				}
			}
		}
	}
	maxTotal := int64(DefaultDynShared)
	if k.maxDyn > DefaultDynShared {
		maxTotal = MaxDynSharedOptIn
	}
	d.launches[name]++
	if err := k.mod.lib.launch(k.idx, grid, block, int64(dynSmem), maxTotal, vals, d.opt.Reverse); err != nil {
		return fmt.Errorf("emu: %w", err)
	}
	return nil
}
