#!/usr/bin/env bash
# check-floors.sh: the kernel's files import each other only downwards.
#
# The floors are the table "Kernel floors" in docs/ARCHITECTURE.md (rows `| N | name | files |`,
# files as `path` relative to kernel/src, a trailing `/` taking a whole directory). Every
# reference a file makes to another kernel file -- `crate::a::b`, `super::x`, a child module
# `name::` of a `mod name;`, and the console macros `println!`/`print!`/`println_forced!` --
# is an arrow; an arrow into a higher floor fails the check, and so does a circle among the
# files (found with tsort), a file in no floor, or a floor naming a file that does not exist.
# Comments and doc comments are not arrows. The binary (`main.rs`, `demo/`) is a separate
# crate that sees only `kernel::` and is not checked.
#
#   kernel/check-floors.sh           check; exit status 1 on any violation
#   kernel/check-floors.sh --edges   print every arrow as `from -> to  (floor a -> b)`
#   kernel/check-floors.sh --self-test   negative control: the check must fail on a copy of
#                                    the tree with an upward import and with a circle added
#   kernel/check-floors.sh --help
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

mode=check
case "${1:-}" in
'') ;;
--edges) mode=edges ;;
--self-test) mode=self-test ;;
-h | --help)
    usage
    exit 0
    ;;
*)
    echo "check-floors.sh: unknown argument '$1' (try --help)" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)

if [[ $mode == self-test ]]; then
    # Each mutation on a fresh copy of kernel/src and the docs; the check must exit 1.
    mutations=(
        "console.rs:use crate::runtime::console_rx as _;"
        "irq.rs:use crate::api as _;"
        "smp.rs:use crate::percpu as _;"
    )
    for m in "${mutations[@]}"; do
        tmp=$(mktemp -d)
        mkdir -p "$tmp/kernel" "$tmp/docs"
        cp -r "$root/kernel/src" "$0" "$tmp/kernel/"
        cp "$root/docs/ARCHITECTURE.md" "$tmp/docs/"
        echo "${m#*:}" >>"$tmp/kernel/src/${m%%:*}"
        set +e
        out=$(bash "$tmp/kernel/$(basename "$0")" 2>&1)
        rc=$?
        set -e
        rm -rf "$tmp"
        if [[ $rc -ne 1 ]]; then
            echo "check-floors.sh --self-test: '${m#*:}' in ${m%%:*} was not caught (exit $rc)" >&2
            exit 1
        fi
        echo "caught: ${m#*:} in ${m%%:*}: $(grep -m1 -i 'upward\|circle\|fail' <<<"$out" || echo "$out" | head -n1)"
    done
    echo "check-floors self-test: ok (${#mutations[@]} mutations caught)"
    exit 0
fi
src="$root/kernel/src"
doc="$root/docs/ARCHITECTURE.md"
[[ -f "$doc" ]] || {
    echo "check-floors.sh: $doc not found" >&2
    exit 2
}

# Library files (relative to kernel/src), sorted.
files=$(cd "$src" && find . -name '*.rs' ! -name main.rs ! -path './demo/*' | sed 's|^\./||' | sort)

# path -> floor number, from the table in the docs.
floors=$(awk -F'|' '
    /^## Kernel floors/ { on = 1; next }
    on && /^## / { on = 0 }
    on && $2 ~ /^ *[0-9]+ *$/ {
        n = $2 + 0
        while (match($4, /`[^`]+`/)) {
            print substr($4, RSTART + 1, RLENGTH - 2), n
            $4 = substr($4, RSTART + RLENGTH)
        }
    }' "$doc")
[[ -n "$floors" || $mode == edges ]] || {
    echo "check-floors.sh: no '## Kernel floors' table in $doc" >&2
    exit 2
}

fail=0
declare -A floor_of
while read -r path n; do
    [[ -n "$path" ]] || continue
    if [[ "$path" == */ ]]; then
        matched=$(grep "^${path}" <<<"$files" || true)
        [[ -n "$matched" ]] || {
            echo "floor $n names $path, which holds no file"
            fail=1
        }
        for f in $matched; do floor_of[$f]=$n; done
    else
        grep -qx "$path" <<<"$files" || {
            echo "floor $n names $path, which does not exist"
            fail=1
        }
        floor_of[$path]=$n
    fi
done <<<"$floors"
for f in $files; do
    [[ $mode == edges || -n "${floor_of[$f]:-}" ]] || {
        echo "$f is in no floor (add it to the table in docs/ARCHITECTURE.md)"
        fail=1
    }
done

# Arrows: `from to`, one per referencing file and target.
edges=$(cd "$src" && awk -v files="$files" '
    function exists(p) { return p in have }
    # The file a module directory stands for: lib.rs for the root, else dir.rs or dir/mod.rs.
    function modfile(dir) {
        if (dir == "") return "lib.rs"
        if (exists(dir ".rs")) return dir ".rs"
        return dir "/mod.rs"
    }
    # Longest prefix of the segments seg[1..n] that names a file under dir, else dir itself.
    function resolve(dir, n,    k, i, p) {
        for (k = n; k >= 1; k--) {
            p = dir
            for (i = 1; i <= k; i++) p = (p == "" ? "" : p "/") seg[i]
            if (exists(p ".rs")) return p ".rs"
            if (exists(p "/mod.rs")) return p "/mod.rs"
        }
        return modfile(dir)
    }
    function add(to) { if (to != FILENAME && exists(to)) print FILENAME, to }
    BEGIN { n = split(files, list, "\n"); for (i = 1; i <= n; i++) have[list[i]] = 1 }
    FNR == 1 {
        # This file s module directory (its children live there) and its parent s.
        dir = FILENAME; sub(/\.rs$/, "", dir); sub(/\/mod$/, "", dir)
        if (dir == "lib") dir = ""
        parent = dir; if (parent !~ /\//) parent = ""; else sub(/\/[^\/]*$/, "", parent)
        delete child
        # `mod name;` declarations anywhere in the file: read ahead.
        while ((getline line < FILENAME) > 0)
            if (line ~ /^[ \t]*(pub(\([a-z]+\))? )?mod [a-z_0-9]+;/) {
                sub(/^[ \t]*(pub(\([a-z]+\))? )?mod /, "", line); sub(/;.*/, "", line)
                child[line] = 1
            }
        close(FILENAME)
    }
    {
        line = $0
        sub(/\/\/.*/, "", line)                                   # comments, doc comments
        if (line ~ /macro_rules!/) next
        if (FILENAME != "console.rs" && line ~ /(^|[^a-z_])(println|print|println_forced)!/)
            add("console.rs")
        # Grouped paths: `crate::{a, b::c}` becomes `crate::a crate::b::c`.
        while (match(line, /(crate|super)::\{[^}]*\}/)) {
            grp = substr(line, RSTART, RLENGTH); pre = grp; sub(/::\{.*/, "", pre)
            inner = grp; sub(/^[^{]*\{/, "", inner); sub(/\}$/, "", inner)
            m = split(inner, part, ","); out = ""
            for (i = 1; i <= m; i++) {
                e = part[i]; gsub(/^[ \t]+|[ \t]+$/, "", e); sub(/ as .*/, "", e)
                if (e != "" && e != "self") out = out " " pre "::" e
            }
            line = substr(line, 1, RSTART - 1) out substr(line, RSTART + RLENGTH)
        }
        while (match(line, /(crate|super)::[a-z_0-9:{]+/)) {
            p = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
            base = (p ~ /^crate/) ? "" : parent
            sub(/^(crate|super)::/, "", p); sub(/[:{]*$/, "", p); sub(/::\{.*/, "", p)
            k = split(p, seg, "::")
            if (base == "" && (seg[1] == "println" || seg[1] == "print" || seg[1] == "println_forced")) {
                add("console.rs"); continue
            }
            add(resolve(base, k))
        }
        # Paths into child modules (`layout::X` in boot/mod.rs).
        line = $0; sub(/\/\/.*/, "", line)
        while (match(line, /(^|[^a-z_0-9:])[a-z_0-9]+::/)) {
            p = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
            sub(/^[^a-z_0-9]/, "", p); sub(/::$/, "", p)
            if (p in child) { seg[1] = p; add(resolve(dir, 1)) }
        }
    }' $files | sort -u)

if [[ $mode == edges ]]; then
    while read -r from to; do
        printf '%-24s -> %-24s (floor %s -> %s)\n' "$from" "$to" "${floor_of[$from]:-?}" "${floor_of[$to]:-?}"
    done <<<"$edges"
    exit 0
fi

up=0
total=0
while read -r from to; do
    [[ -n "$from" ]] || continue
    total=$((total + 1))
    a=${floor_of[$from]:-}
    b=${floor_of[$to]:-}
    if [[ -n "$a" && -n "$b" && $b -gt $a ]]; then
        echo "upward arrow: $from (floor $a) -> $to (floor $b)"
        up=$((up + 1))
    fi
done <<<"$edges"
[[ $up -eq 0 ]] || fail=1

# tsort names the files of any circle on stderr.
loops=$(tsort <<<"$edges" 2>&1 >/dev/null) || true
if [[ -n "$loops" ]]; then
    echo "import circle among kernel files:"
    sed -e 's/^tsort: //' -e 's/^-: //' -e 's/^/  /' <<<"$loops"
    fail=1
fi

if [[ $fail -ne 0 ]]; then
    echo "check-floors: FAILED ($total arrows, $up upward)"
    exit 1
fi
echo "check-floors: ok ($(wc -w <<<"$files") files, $total arrows, none upward, no circle)"
