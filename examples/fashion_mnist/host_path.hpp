// examples/fashion_mnist/host_path.hpp — the CPU path of the demo as plain
// functions (defined in host_path.cpp over mlp.hpp's trainer), as
// device_path.hpp is the GPU path: main.cpp parses, reports and drives, and
// the trainer's code compiles in a file of its own, beside main.cpp and
// backend.cpp, so the three build in parallel.
#pragma once

#include <cstddef>

#include "checkpoint_file.hpp"
#include "recipes.hpp"
#include "training_setup.hpp"

namespace fashion_mnist {

// Trains one recipe on the CPU reference: every epoch, with the numerics
// report; `checkpoints` saves after each epoch, resumes from a checkpoint
// and stops early, as asked (--checkpoint, --resume, --stop-after).
run_result train_on_host(const recipe& r, const training_options& options, const prepared_split& train,
                         const prepared_split& test, const progress_callback& progress,
                         const checkpoint_hooks& checkpoints);

// Whether `checkpoint` (parsed) fits this run: a trainer for recipe r and
// `options` restores it and is discarded. Throws mixprec::error naming what
// does not fit (recipe, options, split sizes, optimizer state).
void check_checkpoint_fits(const recipe_checkpoint& checkpoint, const recipe& r, const training_options& options,
                           std::size_t train_count, std::size_t test_count);

}  // namespace fashion_mnist
