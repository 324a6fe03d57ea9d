#include "core/matrix_blocking.h"

#include <Eigen/Core>

namespace mc {

void fix_matrix_blocking() { Eigen::setCpuCacheSizes(std::ptrdiff_t{32} << 10, std::ptrdiff_t{1} << 20, std::ptrdiff_t{32} << 20); }

}  // namespace mc
