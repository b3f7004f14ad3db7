# A hostile log: terminal escapes (clear screen, colour, window title), a bell, a bidi
# override, NUL and invalid UTF-8 on stderr, then a failure.
printf 'ok so far\033[2J\033[H\n'
printf 'boom \033[31mred\033[0m \033]0;pwned\007 \342\200\256evil \000nul \377\376 bad utf8\n' >&2
exit 4
