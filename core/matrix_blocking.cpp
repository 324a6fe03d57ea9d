#include "core/matrix_blocking.h"

#include <Eigen/Core>

namespace mc {

void fix_matrix_blocking() { Eigen::setCpuCacheSizes(std::ptrdiff_t{48} << 10, std::ptrdiff_t{2} << 20, std::ptrdiff_t{260} << 20); }

}  // namespace mc
