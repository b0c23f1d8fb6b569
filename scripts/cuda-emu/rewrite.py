#!/usr/bin/env python3
# Rewrites the CUDA-only syntax of a .cu / .cuh file into host C++ for the emulated build:
#   k<<<grid, block[, smem[, stream]]>>>(args)  ->  emu_launch(emu_fn(k) or nullptr, dim3(grid), dim3(block), smem, [&] { k(args); })
#   extern __shared__ [__align__(n)] T name[];   ->  T* name = static_cast<T*>(emu_dynamic_smem());
#   __launch_bounds__(N) kernels check at entry that the launch has at most N threads
#   __shared__ T a[n], b;  (static storage in the emulator) gets poisoned at the start of each block
# Fails (exit 1) on any launch it cannot parse. Usage: rewrite.py IN OUT
import re, sys

OPEN, CLOSE = '([{', ')]}'

def match_forward(s, i):
    """s[i] is an opening bracket; index just past its match."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c in OPEN: depth += 1
        elif c in CLOSE:
            depth -= 1
            if depth == 0: return i + 1
        i += 1
    raise ValueError('unbalanced brackets')

def split_top(text):
    parts, depth, cur = [], 0, ''
    for c in text:
        if c in OPEN: depth += 1
        elif c in CLOSE: depth -= 1
        if c == ',' and depth == 0:
            parts.append(cur); cur = ''
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts]

def fail(path, s, i, why):
    line = s.count('\n', 0, i) + 1
    sys.exit(f'{path}:{line}: cannot rewrite launch: {why}')

def rewrite(path, s):
    out, pos, n = [], 0, 0
    while True:
        i = s.find('<<<', pos)
        if i < 0: break
        # callee: identifier (may be qualified) with optional <template args>, before <<<
        j = i
        while j > 0 and s[j - 1] in ' \t\n\\': j -= 1
        end = j
        if s[j - 1] == '>':
            depth = 0
            while j > 0:
                j -= 1
                if s[j] == '>': depth += 1
                elif s[j] == '<':
                    depth -= 1
                    if depth == 0: break
            if depth: fail(path, s, i, 'unbalanced template arguments')
        while j > 0 and (s[j - 1].isalnum() or s[j - 1] in '_:'): j -= 1
        callee = s[j:end]
        if not re.match(r'^[A-Za-z_][\w:]*\s*(<.*>)?$', callee, re.S): fail(path, s, i, f'callee {callee!r}')
        if j < pos: fail(path, s, i, 'overlapping launches')
        # configuration up to the matching >>>
        k, depth = i + 3, 0
        while k < len(s):
            c = s[k]
            if c in OPEN: depth += 1
            elif c in CLOSE: depth -= 1
            elif depth == 0 and s.startswith('>>>', k): break
            k += 1
        else:
            fail(path, s, i, 'no >>>')
        cfg = split_top(s[i + 3:k])
        if not 2 <= len(cfg) <= 4 or any(not c for c in cfg): fail(path, s, i, f'configuration {cfg}')
        smem = cfg[2] if len(cfg) > 2 else '0'
        a = k + 3
        while a < len(s) and s[a] in ' \t\n\\': a += 1
        if s[a] != '(': fail(path, s, i, 'no argument list after >>>')
        b = match_forward(s, a)
        args = s[a + 1:b - 1]
        out.append(s[pos:j])
        # The kernel's address is only needed for the dynamic shared memory check (and cannot be
        # taken where template arguments are left to deduction).
        fn = 'nullptr' if smem == '0' else f'emu_fn({callee})'
        out.append(f'emu_launch({fn}, dim3({cfg[0]}), dim3({cfg[1]}), size_t({smem}), '
                   f'[&] {{ {callee}({args}); }})')
        pos, n = b, n + 1
    out.append(s[pos:])
    return ''.join(out), n

def poison_static_shared(s):
    """After each `__shared__ T a[..], b;` statement, calls that fill the arrays with 0xff bytes
    once per block (the first thread to get there), as shared memory starts as garbage on a GPU."""
    out, pos = [], 0
    for m in re.finditer(r'(?<![\w"])__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?([^;]*);', s):
        line_start = s.rfind('\n', 0, m.start()) + 1
        if '//' in s[line_start:m.start()]: continue  # in a comment
        decl = m.group(1)
        depth, parts, cur = 0, [], ''
        for c in decl:
            if c in '[(<': depth += 1
            elif c in '])>': depth -= 1
            if c == ',' and depth == 0: parts.append(cur); cur = ''
            else: cur += c
        parts.append(cur)
        names = []
        for i, p in enumerate(parts):
            head = p.split('[')[0].strip()
            name = re.search(r'(\w+)\s*$', head)
            if not name: sys.exit(f'cannot parse __shared__ declaration {m.group(0)!r}')
            names.append(name.group(1))
        out.append(s[pos:m.end()])
        out.append(''.join(f' emu_poison_shared(&{n}, sizeof({n}));' for n in names))
        pos = m.end()
    out.append(s[pos:])
    return ''.join(out)

def check_launch_bounds(path, s):
    """Starts each __launch_bounds__(N[, B]) kernel's body with a check that the launch used at
    most N threads (on a GPU a bigger launch fails)."""
    out, pos = [], 0
    for m in re.finditer(r'__launch_bounds__\(', s):
        end = match_forward(s, m.end() - 1)
        n = split_top(s[m.end():end - 1])[0]
        params = s.index('(', end)
        body = s.index('{', match_forward(s, params))
        out.append(s[pos:body + 1])
        out.append(f' emu_check_launch_bounds({n});')
        pos = body + 1
    out.append(s[pos:])
    return ''.join(out)

def main():
    src, dst = sys.argv[1], sys.argv[2]
    s = open(src).read()
    s, n = rewrite(src, s)
    s, m = re.subn(r'extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?([\w:]+)\s+(?:__align__\(\s*\d+\s*\)\s+)?(\w+)\s*\[\s*\]\s*;',
                   r'\1* \2 = static_cast<\1*>(emu_dynamic_smem());', s)
    s = poison_static_shared(s)
    s = check_launch_bounds(src, s)
    if '<<<' in s or re.search(r'extern\s+__shared__', s): sys.exit(f'{src}: syntax left that the rewrite does not handle')
    open(dst, 'w').write(s)

main()
