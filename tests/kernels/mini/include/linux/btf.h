#ifndef _LINUX_BTF_H
#define _LINUX_BTF_H 1

#define KF_ACQUIRE	(1 << 0) /* acquire */
#define KF_RELEASE	(1 << 1) /* release */
#define KF_RET_NULL	(1 << 2) /* may return NULL */
#define KF_SLEEPABLE    (1 << 5) /* may sleep */
#define KF_RCU          (1 << 7) /* rcu or trusted args */
#define KF_RCU_PROTECTED (1 << 11) /* needs rcu cs */

#endif
