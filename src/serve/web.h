/* serve/web.h - the status page's static files, embedded into the binary at build time.
 * Owns: gl_web_file_t and the lookup of a URL path among them. The table gl_serve_web_files[] is
 * generated from src/serve/web/ by src/serve/web/embed.cmake (see web/web.cmake); web.c looks up. */
#ifndef GL_SERVE_WEB_H
#define GL_SERVE_WEB_H

#include <stddef.h>

typedef struct {
  const char *path;         /* "/index.html", "/status.js", ... */
  const char *content_type; /* with charset */
  const unsigned char *data;
  size_t len;
  const char *etag;         /* quoted, from the content's SHA-1 */
} gl_web_file_t;

/* Ends with an entry whose path is NULL. */
extern const gl_web_file_t gl_serve_web_files[];

/* The file served at url ("/" is "/index.html"), or NULL. */
const gl_web_file_t *gl_serve_web_find(const char *url);

#endif
