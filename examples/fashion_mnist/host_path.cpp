// examples/fashion_mnist/host_path.cpp — the functions of host_path.hpp over
// the CPU trainer (mlp.hpp).
#include "host_path.hpp"

#include "mlp.hpp"

namespace fashion_mnist {

run_result train_on_host(const recipe& r, const training_options& options, const prepared_split& train,
                         const prepared_split& test, const progress_callback& progress,
                         const checkpoint_hooks& checkpoints) {
  trainer t(r, options);
  return t.run(train, test, progress, checkpoints);
}

void check_checkpoint_fits(const recipe_checkpoint& checkpoint, const recipe& r, const training_options& options,
                           std::size_t train_count, std::size_t test_count) {
  trainer probe(r, options);
  run_result ignored;
  probe.restore(checkpoint, train_count, test_count, ignored);
}

}  // namespace fashion_mnist
