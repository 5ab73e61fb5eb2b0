# src/serve/web/web.cmake - embeds the status page (src/serve/web/*.html, *.js, *.css) into the gl
# library as the generated gen/serve_web.c (embed.cmake), remade whenever one of the files changes.
file(GLOB GL_WEB_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/serve/web/*.html
     ${CMAKE_SOURCE_DIR}/src/serve/web/*.js ${CMAKE_SOURCE_DIR}/src/serve/web/*.css)
add_custom_command(
  OUTPUT ${GL_GEN_DIR}/serve_web.c
  COMMAND ${CMAKE_COMMAND} -DDIR=${CMAKE_SOURCE_DIR}/src/serve/web -DOUT=${GL_GEN_DIR}/serve_web.c
          -P ${CMAKE_SOURCE_DIR}/src/serve/web/embed.cmake
  DEPENDS ${GL_WEB_FILES} ${CMAKE_SOURCE_DIR}/src/serve/web/embed.cmake
  COMMENT "embedding the status page (src/serve/web)")
target_sources(gl PRIVATE ${GL_GEN_DIR}/serve_web.c)
