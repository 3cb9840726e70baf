# smbts native addon: plain C over N-API (NAPI_VERSION 8), built with
#   cd native && node-gyp rebuild --nodedir=/usr
# (never let node-gyp download headers; /usr/include/node is the system Node's, and N-API is
# ABI-stable, so the addon built against it loads in Node 24).
{
  "targets": [
    {
      "target_name": "smbts",
      "sources": [
        "src/addon.c",
        "src/args.c",
        "src/fsops.c",
        "src/fsnow.c",
        "src/ring.c",
        "src/ring-wait.c",
        "src/ring-busy.c",
        "src/ring-ops.c",
        "src/ring-bufs.c",
        "src/sock.c",
        "src/tcpinfo.c",
        "src/aead.c",
        "src/shmstore.c",
        "src/gss.c",
        "src/mount.c",
        "src/inotify.c",
        "src/privs.c",
      ],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags!": ["-O3"],
      "configurations": {
        "Release": {
          "cflags!": ["-O3"],
          "cflags": ["-O2"]
        }
      },
      # Static: the addon must not depend on which liburing.so a host happens to have.
      "libraries": ["-l:liburing.a"]
    }
  ]
}
