{
  "targets": [
    {
      "target_name": "giftjs_native",
      "sources": [
        "native/addon.cpp",
        "native/io/file_map.cpp",
        "native/runtime/thread_pool.cpp",
        "native/runtime/peak.cpp",
        "native/runtime/huge_pages.cpp",
        "native/runtime/discard_pages.cpp",
        "native/gemm/microkernels.cpp",
        "native/gemm/amx_kernel.cpp",
        "native/gemm/gemm.cpp",
        "native/gemm/weight_rows.cpp",
        "native/gemm/pack.cpp",
        "native/gemm/quantized.cpp",
        "native/gemm/int8_gemm.cpp",
        "native/kernels/norms.cpp",
        "native/kernels/softmax.cpp",
        "native/kernels/cross_entropy.cpp",
        "native/kernels/attention.cpp",
        "native/kernels/activations.cpp",
        "native/kernels/dropout.cpp",
        "native/kernels/adamw.cpp",
        "native/kernels/elementwise.cpp",
        "native/kernels/reduce.cpp",
        "native/kernels/sum_of_squares.cpp",
        "native/kernels/rope.cpp",
        "native/kernels/vec_exp.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2"],
      # GCC 12 warns about its own avx512 headers (the _mm512_undefined_* self-initialisation idiom).
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-ffp-contract=fast", "-Wno-uninitialized", "-Wno-maybe-uninitialized"],
      "cflags": ["-O3"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3"]
      }
    }
  ]
}
