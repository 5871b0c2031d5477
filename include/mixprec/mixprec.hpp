// mixprec/mixprec.hpp — every host-side part of mixprec. Device code lives
// under mixprec/cuda/ and is included from the user's .cu files.
#pragma once

// Value types and the conversion engine.
#include "mixprec/core/random.hpp"
#include "mixprec/types.hpp"
// Bulk host conversion and MX/NVFP4 block quantization (SIMD, chosen at run time).
#include "mixprec/host/block_quantize.hpp"
#include "mixprec/host/convert_n.hpp"
// Quantisation rules (per-tensor/block FP8, OCP MX, NVFP4), the scaled and
// block-scaled GEMM descriptions and the CPU references.
#include "mixprec/cast/mx_rules.hpp"
#include "mixprec/cast/nvfp4_rules.hpp"
#include "mixprec/cast/rules.hpp"
#include "mixprec/gemm/block_scale_layout.hpp"
#include "mixprec/gemm/block_scaled.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/gemm/validate.hpp"
#include "mixprec/reference/block_scaled_gemm.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/reference/quantize.hpp"
#include "mixprec/reference/scaled_gemm.hpp"
// Training utilities.
#include "mixprec/scaling/block_recipes.hpp"
#include "mixprec/scaling/fp8_scaling.hpp"
#include "mixprec/scaling/loss_scaler.hpp"
#include "mixprec/training/checkpoint.hpp"
#include "mixprec/training/gradient_check.hpp"
#include "mixprec/training/optimizer.hpp"
#include "mixprec/training/tensor_view.hpp"
#include "mixprec/training/update_rules.hpp"
