# The names hostile processes give themselves: line breaks, separators,
# quotes, backslashes, markup, raw bytes. Sourced by hostile_names_test.sh
# (the trace formats) and tests/web/hostile_page_test.sh (the live page).
names=(
  $'new\nline'
  $'carriage\rret'
  '|PID=1 CMD=x'
  'a<-b'
  'a->b'
  '"quoted"'
  'back\slash'
  '{"type":1}'
  $'\x80\xff\xfehigh'
  $'\x01\x1f\x7flow'
  '<img src=x>'
  '</script><b>'
  '&lt;i&gt;'
)
