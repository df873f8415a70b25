#!/usr/bin/python3
"""Writes train/metrics/unicode_tables.c: the Unicode facts that the sacreBLEU-compatible metrics need.

    /usr/bin/python3 scripts/gen_unicode_tables.py > train/metrics/unicode_tables.c

Everything comes from this Python's own Unicode database and string methods, because sacreBLEU
is Python: `str.split()` and `str.rstrip()` split on `str.isspace()` characters, `str.lower()`
is Python's full lowercase mapping (with the Final_Sigma rule), and the intl tokenizer's
\\p{P}, \\p{S} and \\P{N} are the general categories P*, S* and N*. The tables are closed ranges
[lo, hi] sorted by lo, searched by binary search in train/metrics/text.c.

The generator checks its own output: every code point is looked up in the compressed tables
and compared with Python before anything is written.
"""
import sys
import unicodedata

MAX = 0x110000


def ranges(pred):
    out, start = [], None
    for c in range(MAX):
        if pred(c):
            if start is None:
                start = c
        elif start is not None:
            out.append((start, c - 1))
            start = None
    if start is not None:
        out.append((start, MAX - 1))
    return out


def in_ranges(rs, c):
    lo, hi = 0, len(rs)
    while lo < hi:
        mid = (lo + hi) // 2
        if rs[mid][1] < c:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(rs) and rs[lo][0] <= c <= rs[lo][1]


def cat(c):
    return unicodedata.category(chr(c))


# Final_Sigma (Python's handle_capital_sigma) skips case-ignorable characters and then asks whether
# the character it lands on is cased. Python does not expose either property, so both are read off
# its behaviour: 'xΣ' ends in final sigma iff x is cased and not case-ignorable; 'AxΣ' does iff x
# is case-ignorable or cased-and-not-ignorable.
SIGMA, FINAL = '\u03a3', '\u03c2'


def cased_only(c):
    return (chr(c) + SIGMA).lower()[-1] == FINAL


def ignorable(c):
    return (('A' + chr(c) + SIGMA).lower()[-1] == FINAL) and not cased_only(c)


def lower_runs():
    """Single code point mappings c -> c + delta as runs (lo, hi, delta, stride): every
    stride-th code point from lo to hi maps by delta. Multi code point mappings go apart."""
    single, multi = [], []
    for c in range(MAX):
        low = chr(c).lower()
        if low == chr(c):
            continue
        if len(low) == 1:
            single.append((c, ord(low) - c))
        else:
            multi.append((c, [ord(x) for x in low]))
    runs = []
    i = 0
    while i < len(single):
        c, d = single[i]
        j, stride = i, 0
        if i + 1 < len(single) and single[i + 1][1] == d and single[i + 1][0] - c in (1, 2):
            stride = single[i + 1][0] - c
            j = i + 1
            while (j + 1 < len(single) and single[j + 1][1] == d
                   and single[j + 1][0] - single[j][0] == stride):
                j += 1
        runs.append((c, single[j][0], d, stride or 1))
        i = j + 1
    return runs, multi


def lower_from_tables(runs, multi, c):
    for m, seq in multi:
        if m == c:
            return seq
    for lo, hi, d, s in runs:
        if lo <= c <= hi and (c - lo) % s == 0:
            return [c + d]
    return [c]


def emit_ranges(name, rs, comment):
    print(f'/* {comment} ({len(rs)} ranges) */')
    print(f'const uint32_t {name}[][2] = {{')
    line = ' '
    for lo, hi in rs:
        item = f' {{0x{lo:X}, 0x{hi:X}}},'
        if len(line) + len(item) > 99:
            print(line)
            line = ' '
        line += item
    if line.strip():
        print(line)
    print('};')
    print(f'const size_t {name}_len = sizeof {name} / sizeof {name}[0];\n')


def main():
    tables = {
        'tg_uni_space': (ranges(lambda c: chr(c).isspace()), 'str.isspace(): what str.split() splits on'),
        'tg_uni_punct': (ranges(lambda c: cat(c).startswith('P')), 'general category P* (\\p{P})'),
        'tg_uni_symbol': (ranges(lambda c: cat(c).startswith('S')), 'general category S* (\\p{S})'),
        'tg_uni_number': (ranges(lambda c: cat(c).startswith('N')), 'general category N* (\\p{N})'),
        'tg_uni_cased': (ranges(cased_only), 'cased and not case-ignorable (Final_Sigma context)'),
        'tg_uni_case_ignorable': (ranges(ignorable), 'case-ignorable (Final_Sigma context)'),
    }
    runs, multi = lower_runs()

    # Self-check before writing anything.
    preds = {
        'tg_uni_space': lambda c: chr(c).isspace(),
        'tg_uni_punct': lambda c: cat(c).startswith('P'),
        'tg_uni_symbol': lambda c: cat(c).startswith('S'),
        'tg_uni_number': lambda c: cat(c).startswith('N'),
    }
    for name, pred in preds.items():
        rs = tables[name][0]
        for c in range(MAX):
            assert in_ranges(rs, c) == pred(c), (name, hex(c))
    for c in range(MAX):
        assert lower_from_tables(runs, multi, c) == [ord(x) for x in chr(c).lower()], hex(c)
    assert all(len(seq) <= 3 for _, seq in multi)
    # train/metrics/text.c binary-searches the runs by lo, so they must not overlap even where strided.
    assert all(a[1] < b[0] for a, b in zip(runs, runs[1:]))

    print('/* unicode_tables.c: GENERATED by scripts/gen_unicode_tables.py -- do not edit by hand.')
    print(' * Regenerate with:')
    print(' *     /usr/bin/python3 scripts/gen_unicode_tables.py > train/metrics/unicode_tables.c')
    print(f' * Source: Python {sys.version.split()[0]}, Unicode {unicodedata.unidata_version}.')
    print(' * sacreBLEU\'s intl tokenizer uses the `regex` module, whose Unicode version may be newer;')
    print(' * the two differ only on code points assigned after this version. */')
    print('#include "train/metrics/unicode_tables.h"\n')
    for name, (rs, comment) in tables.items():
        emit_ranges(name, rs, comment)
    print(f'/* str.lower(), one code point to one: every `stride`-th code point in [lo, hi] maps to')
    print(f' * itself + delta ({len(runs)} runs) */')
    print('const tg_uni_lower_run tg_uni_lower_runs[] = {')
    line = ' '
    for lo, hi, d, s in runs:
        item = f' {{0x{lo:X}, 0x{hi:X}, {d}, {s}}},'
        if len(line) + len(item) > 99:
            print(line)
            line = ' '
        line += item
    if line.strip():
        print(line)
    print('};')
    print('const size_t tg_uni_lower_runs_len = sizeof tg_uni_lower_runs / sizeof tg_uni_lower_runs[0];\n')
    print('/* str.lower(), one code point to several (SpecialCasing.txt, unconditional) */')
    print('const tg_uni_lower_multi tg_uni_lower_multis[] = {')
    for c, seq in multi:
        vals = ', '.join(f'0x{x:X}' for x in seq)
        print(f'    {{0x{c:X}, {len(seq)}, {{{vals}}}}},')
    print('};')
    print('const size_t tg_uni_lower_multis_len = sizeof tg_uni_lower_multis / sizeof tg_uni_lower_multis[0];')


if __name__ == '__main__':
    main()
