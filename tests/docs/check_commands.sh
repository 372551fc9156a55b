#!/usr/bin/env bash
# Every `tianshu …` command shown in the docs exists, and each English document and its
# Simplified Chinese twin show the same commands.
#
#   bash tests/docs/check_commands.sh TIANSHU EN.md ZH.md [EN.md ZH.md]...
#
# A command is a line of a fenced code block that starts with `tianshu`, `./build/tianshu` or
# `build/tianshu` (lines ending in `\` joined; a `$ ` prompt, a trailing `# comment` and a
# trailing `(remark)` or `（注释）` after two spaces dropped). Two commands on one line are split where a
# run of spaces is followed by `tianshu`. For each command:
#   - its subcommand path (`channel add`, `logs`, `logs prune`; `a|b` and ` | ` alternatives
#     expanded the way `tianshu help` writes them) must be one that `TIANSHU help` lists;
#   - `TIANSHU <path> --help` must answer with a usage line: exit 0, or exit 2 with
#     "usage: tianshu <command>" (what a command says of an option it does not know), and
#     never "unknown command".
# Then the set of command lines of EN and ZH must be equal (the prose is translated, the
# commands are not). Exit 0: all good; 1: each problem printed with its file; 2: bad usage.
# POSIX awk only (AWK=mawk to try Debian's default).
set -uo pipefail

TIANSHU=${1:?usage: check_commands.sh TIANSHU EN.md ZH.md [EN.md ZH.md]...}
shift
(( $# >= 2 && $# % 2 == 0 )) || { echo "usage: check_commands.sh TIANSHU EN.md ZH.md [EN.md ZH.md]..." >&2; exit 2; }
[[ -x $TIANSHU ]] || { echo "$TIANSHU is not an executable: build the tianshu target first" >&2; exit 2; }
TIANSHU=$(realpath "$TIANSHU")

problems=0
problem() { echo "FAIL: $*"; problems=$((problems + 1)); }

# commands FILE -> one normalised command line per line ("tianshu ..."), in document order
commands() {
  ${AWK:-awk} '
    /^[[:space:]]*(```|~~~)/ { inblock = !inblock; held = ""; next }
    !inblock { next }
    {
      line = held $0
      if (line ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, " ", line); held = line; next }
      held = ""
      sub(/^[[:space:]]*(\$[[:space:]]+)?/, "", line)
      # two commands on one line: split before a run of spaces followed by tianshu
      n = 0
      while (match(line, /[[:space:]][[:space:]]+(\.\/)?(build\/)?tianshu[[:space:]]/)) {
        part[++n] = substr(line, 1, RSTART - 1)
        line = substr(line, RSTART)
        sub(/^[[:space:]]+/, "", line)
      }
      part[++n] = line
      for (i = 1; i <= n; i++) {
        c = part[i]
        if (c !~ /^(\.\/)?(build\/)?tianshu([[:space:]]|$)/) continue
        sub(/^(\.\/)?(build\/)?tianshu/, "tianshu", c)
        sub(/[[:space:]]+#.*$/, "", c)
        sub(/[[:space:]][[:space:]]+(\(|（).*$/, "", c)
        gsub(/[[:space:]]+/, " ", c)
        sub(/ $/, "", c)
        print c
      }
    }' "$1"
}

# paths "tianshu ..." -> the subcommand paths the line names, one per line ("chain import")
paths() {
  ${AWK:-awk} -v tops="$TOPS" '
    BEGIN { split(tops, t, " "); for (i in t) top[t[i]] = 1 }
    {
      sub(/^tianshu /, "")
      n = split($0, alt, / \| /)
      cmds = ""
      for (i = 1; i <= n; i++) {
        a = alt[i]; sub(/^ +/, "", a)
        split(a, w, " ")
        first = w[1]; split(first, f, "|")
        if (i == 1 || (f[1] in top)) {            # a whole command
          cmds = first; rest = w[2]
        } else {                                  # another subcommand of the first command
          rest = first
        }
        nc = split(cmds, c, "|")
        for (j = 1; j <= nc; j++) {
          if (rest ~ /^[a-z][a-z0-9|-]*$/) {
            ns = split(rest, s, "|")
            for (k = 1; k <= ns; k++) print c[j] " " s[k]
          } else print c[j]
        }
      }
    }'
}

# The table: what `tianshu help` lists (its continuation lines start with "|").
HELP=$("$TIANSHU" help 2>&1) || { echo "'$TIANSHU help' failed" >&2; exit 2; }
HELP_LINES=$(printf '%s\n' "$HELP" | ${AWK:-awk} '
  /^[[:space:]]*tianshu / { if (cur != "") print cur; cur = $0; sub(/^[[:space:]]+/, "", cur); next }
  /^[[:space:]]+\| / && cur != "" { l = $0; sub(/^[[:space:]]+/, " ", l); cur = cur l; next }
  { if (cur != "") print cur; cur = "" }
  END { if (cur != "") print cur }')
TOPS="help $(printf '%s\n' "$HELP_LINES" | ${AWK:-awk} '{ split($2, f, "|"); for (i in f) print f[i] }' | sort -u | tr '\n' ' ')"
TABLE=$(printf '%s\n' "$HELP_LINES" | paths | sort -u)
TABLE+=$'\nhelp'
[[ $(wc -l <<<"$TABLE") -ge 10 ]] || { echo "could not read the command table from '$TIANSHU help'" >&2; exit 2; }

known() { grep -qxF -- "$1" <<<"$TABLE"; }
has_subs() { grep -q -- "^$1 " <<<"$TABLE"; }

declare -A asked  # path -> already run with --help
check_path() {  # check_path FILE COMMAND PATH
  local file=$1 cmd=$2 path=$3 top=${3%% *}
  if ! known "$top" && ! has_subs "$top"; then
    problem "$file: '$cmd': there is no command '$top' (see '$TIANSHU help')"; return
  fi
  if ! known "$path"; then
    if [[ $path == "$top" ]]; then
      problem "$file: '$cmd': '$top' needs a subcommand: $(grep "^$top " <<<"$TABLE" | cut -d' ' -f2 | tr '\n' ' ')"
    else
      problem "$file: '$cmd': there is no command '$path' (see '$TIANSHU help')"
    fi
    return
  fi
  [[ -n ${asked[$path]:-} ]] && return
  asked[$path]=1
  local out rc
  # shellcheck disable=SC2086
  out=$(cd "${TMPDIR:-/tmp}" && timeout 20 "$TIANSHU" $path --help </dev/null 2>&1); rc=$?
  if grep -qi 'unknown command' <<<"$out"; then
    problem "$file: '$TIANSHU $path --help' says: $(head -n1 <<<"$out")"
  elif (( rc == 0 )) || { (( rc == 2 )) && grep -q "usage: tianshu $top" <<<"$out"; }; then
    :
  else
    problem "$file: '$TIANSHU $path --help' exited $rc without a usage line: $(head -n2 <<<"$out" | tr '\n' ' ')"
  fi
}

checked=0
while (( $# )); do
  en=$1 zh=$2; shift 2
  for f in "$en" "$zh"; do
    [[ -f $f ]] || { problem "$f: no such file"; continue; }
    while IFS= read -r cmd; do
      [[ -n $cmd ]] || continue
      checked=$((checked + 1))
      while IFS= read -r path; do
        check_path "$f" "$cmd" "$path"
      done < <(printf '%s\n' "$cmd" | paths)
    done < <(commands "$f")
  done
  if [[ -f $en && -f $zh ]]; then
    only_en=$(comm -23 <(commands "$en" | sort -u) <(commands "$zh" | sort -u))
    only_zh=$(comm -13 <(commands "$en" | sort -u) <(commands "$zh" | sort -u))
    [[ -z $only_en ]] || problem "$zh lacks commands that $en shows:"$'\n'"$(sed 's/^/    /' <<<"$only_en")"
    [[ -z $only_zh ]] || problem "$en lacks commands that $zh shows:"$'\n'"$(sed 's/^/    /' <<<"$only_zh")"
    [[ -n $(commands "$en") ]] || problem "$en: no tianshu command found in its code blocks"
  fi
done

if (( problems )); then
  echo "$problems problem(s) in the docs' commands ($checked command lines read)"
  exit 1
fi
echo "ok: $checked command lines, ${#asked[@]} subcommands, each answers --help; en and zh agree"
