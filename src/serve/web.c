/* serve/web.c - finds the embedded status-page file for a URL path. */
#include "serve/web.h"

#include <string.h>

const gl_web_file_t *gl_serve_web_find(const char *url) {
  if (!strcmp(url, "/")) url = "/index.html";
  for (const gl_web_file_t *f = gl_serve_web_files; f->path; f++)
    if (!strcmp(f->path, url)) return f;
  return NULL;
}
