# synthmix's graph-session addon. native/deps is a link to the libtensorflow that
# scripts/setup-tensorflow.mjs provisioned for tfjs-node (CPU or GPU), so both bindings load
# the same shared libraries in one process.
{
  'targets': [{
    'target_name': 'synthmix_graph',
    'sources': ['graph_session.cc'],
    'include_dirs': ['deps/include'],
    'cflags_cc': ['-std=c++17', '-fexceptions'],
    'libraries': [
      '-Wl,-rpath,\$$ORIGIN/../../deps/lib',
      '-ltensorflow',
      '-ltensorflow_framework',
    ],
    'library_dirs': ['<(module_root_dir)/deps/lib'],
  }]
}
