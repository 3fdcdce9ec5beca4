#!/usr/bin/env python3
"""Acceptance framework using pesos 0.2.2 (pure-python libprocess framework
protocol: protobuf messages POSTed to /master/mesos.internal.*, replies POSTed
back to this process's own libprocess HTTP endpoint).

  pesos_framework.py MASTER [--tasks N] [--timeout S] [--cmd 'shell cmd']
  pesos_framework.py MASTER --failover-timeout 60 --cmd 'sleep 30' --wait-for running --hold
  pesos_framework.py MASTER --failover-timeout 60 --framework-id ID --tasks 0 --adopt-task T ...

MASTER is host:port or zk://host:2181/path (pesos itself has no ZooKeeper
support; the harness resolves zk:// with kazoo when installed, reading the
leader's json.info_* node).

The scheduler binds its own libprocess server on LIBPROCESS_IP (default here
127.0.0.1) / LIBPROCESS_PORT (default: any free port); the master must be able
to connect back to it.

Flow: RegisterFrameworkMessage -> FrameworkRegisteredMessage ->
ResourceOffersMessage -> LaunchTasksMessage -> StatusUpdateMessage(s) (pesos
acks each with StatusUpdateAcknowledgementMessage to the master) ->
ReconcileTasksMessage -> reconciliation StatusUpdateMessages ->
UnregisterFrameworkMessage.

Failover: with --hold the framework prints its summary once every task is
--wait-for (running) and reconciled, and then waits to be killed, without
unregistering.  A second process given --framework-id of the first (and the
same LIBPROCESS_PORT: pesos registers a known id without failover, which a
master accepts only from the pid the framework had) sends
ReregisterFrameworkMessage, and succeeds when it is re-registered and the
master reconciles every --adopt-task to the --wait-for state.

Known pesos bug worked around here (package not patched):
SchedulerDriver.reconcileTasks() builds ReviveOffersMessage(statuses=...) and
fails with ValueError inside the driver thread; the harness instead sends a
proper ReconcileTasksMessage through pesos's own SchedulerProcess.send.
Offer ids are passed to launchTasks/declineOffer as strings (pesos API).

Known pesos limitation: it acknowledges every update, reconciliation answers
included, building StatusUpdateAcknowledgementMessage from update.slave_id,
a required field in its protos; for an answer without an agent (a task the
master no longer knows, asked about without its agent) the ack fails to
serialize inside pesos's message handler and the answer is lost.  The
harness therefore reconciles with the agent id of each task, as Mesos
frameworks should.
"""
import argparse
import json
import logging
import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pesos_compat  # noqa: E402,F401  (must precede pesos/compactor/protobuf)

os.environ.setdefault('LIBPROCESS_IP', '127.0.0.1')

from pesos.scheduler import PesosSchedulerDriver  # noqa: E402
from pesos.vendor.mesos import mesos_pb2  # noqa: E402
from pesos.vendor.mesos.internal import messages_pb2 as internal  # noqa: E402
from mesos.interface import Scheduler  # noqa: E402

TERMINAL = {mesos_pb2.TASK_FINISHED, mesos_pb2.TASK_FAILED, mesos_pb2.TASK_KILLED,
            mesos_pb2.TASK_LOST, mesos_pb2.TASK_ERROR}
STATE = {v.number: v.name for v in mesos_pb2.DESCRIPTOR.enum_types_by_name['TaskState'].values}
REASON = {v.number: v.name for v in
          mesos_pb2.TaskStatus.DESCRIPTOR.enum_types_by_name['Reason'].values}


def resolve_zk(uri, timeout):
    """zk://host:port[,host:port]/path -> 'ip:port' of the leading master."""
    from kazoo.client import KazooClient
    rest = uri.split('://', 1)[1]
    hosts, _, path = rest.partition('/')
    path = '/' + path
    zk = KazooClient(hosts=hosts, timeout=timeout)
    zk.start(timeout=timeout)
    try:
        kids = sorted(c for c in zk.get_children(path) if c.startswith('json.info_'))
        if not kids:
            raise RuntimeError('no json.info_* leader node under %s' % path)
        data, _ = zk.get(path + '/' + kids[0])
        info = json.loads(data.decode())
        addr = info.get('address') or {}
        return '%s:%s' % (addr.get('ip') or info.get('hostname'), addr.get('port') or info['port'])
    finally:
        zk.stop()


class AcceptanceScheduler(Scheduler):
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.run_id = uuid.uuid4().hex[:6]
        self.to_launch = ['pesos-%s-%d' % (self.run_id, i) for i in range(args.tasks)]
        self.launched = []
        self.states = {}
        self.agents = {}
        self.finished = threading.Event()
        self.registered_ev = threading.Event()
        self.reconciling = False
        self.reconciled = set()
        self.reconcile_done = threading.Event()
        self.framework_id = args.framework_id
        self.reregistered_ = False
        self.reconciled_states = {}
        self.goal = 'TASK_RUNNING' if args.wait_for == 'running' else 'TASK_FINISHED'
        self.adopted = list(args.adopt_task)
        self.errors = []
        self.offers_seen = 0

    def registered(self, driver, framework_id, master_info):
        self.framework_id = framework_id.value
        self.registered_ev.set()

    def reregistered(self, driver, master_info):
        self.reregistered_ = True
        self.registered_ev.set()

    def resourceOffers(self, driver, offers):
        for offer in offers:
            self.offers_seen += 1
            cpus = sum(r.scalar.value for r in offer.resources if r.name == 'cpus')
            mem = sum(r.scalar.value for r in offer.resources if r.name == 'mem')
            tasks = []
            with self.lock:
                while self.to_launch and cpus >= self.args.cpus and mem >= self.args.mem:
                    tid = self.to_launch.pop(0)
                    t = mesos_pb2.TaskInfo(name=tid)
                    t.task_id.value = tid
                    t.slave_id.CopyFrom(offer.slave_id)
                    for n, v in (('cpus', self.args.cpus), ('mem', self.args.mem)):
                        r = t.resources.add()
                        r.name, r.type, r.scalar.value = n, mesos_pb2.Value.SCALAR, v
                    t.command.value = self.args.cmd
                    t.command.shell = True
                    tasks.append(t)
                    self.launched.append(tid)
                    self.states[tid] = 'LAUNCHED'
                    cpus -= self.args.cpus
                    mem -= self.args.mem
            if tasks:
                driver.launchTasks([offer.id.value], tasks)
            else:
                driver.declineOffer(offer.id.value, mesos_pb2.Filters(refuse_seconds=60))

    def statusUpdate(self, driver, status):
        tid = status.task_id.value
        with self.lock:
            if status.HasField('slave_id'):
                self.agents[tid] = status.slave_id.value
            if self.reconciling and status.HasField('reason') and \
                    status.reason == mesos_pb2.TaskStatus.REASON_RECONCILIATION:
                self.reconciled.add(tid)
                self.reconciled_states[tid] = STATE.get(status.state, status.state)
                if self.reconciled >= set(self.launched) | set(self.adopted):
                    self.reconcile_done.set()
                return
            self.states[tid] = STATE.get(status.state, status.state)
            if status.state in TERMINAL and status.state != mesos_pb2.TASK_FINISHED:
                self.errors.append('%s %s %s' % (tid, self.states[tid], status.message))
            if (not self.to_launch and
                    all(self.states.get(t) in ('TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED',
                                               'TASK_LOST', 'TASK_ERROR', self.goal)
                        for t in self.launched)):
                self.finished.set()

    def error(self, driver, message):
        self.errors.append('error: %s' % message)
        self.finished.set()
        self.reconcile_done.set()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('master')
    ap.add_argument('--tasks', type=int, default=3)
    ap.add_argument('--timeout', type=float, default=120)
    ap.add_argument('--cmd', default='echo hello-from-pesos-task; sleep 1')
    ap.add_argument('--cpus', type=float, default=0.1)
    ap.add_argument('--mem', type=float, default=32)
    ap.add_argument('--name', default='pesos-acceptance')
    ap.add_argument('--user', default=os.environ.get('USER', 'root'))
    ap.add_argument('--failover-timeout', type=float, default=0)
    ap.add_argument('--framework-id', default=None, help='re-register as this framework')
    ap.add_argument('--wait-for', choices=('finished', 'running'), default='finished')
    ap.add_argument('--adopt-task', action='append', default=[], metavar='TASK_ID',
                    help='a task of a previous instance, reconciled (repeatable)')
    ap.add_argument('--hold', action='store_true',
                    help='print the summary when done and wait to be killed, registered')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s')
    t0 = time.time()
    deadline = t0 + args.timeout
    sched = AcceptanceScheduler(args)
    summary = dict(client='pesos', version='0.2.2', master=args.master, tasks=args.tasks)

    def emit(ok, step, code=None, hold=False):
        summary.update(ok=ok, step=step, framework_id=sched.framework_id,
                       reregistered=sched.reregistered_,
                       launched=len(sched.launched), task_ids=list(sched.launched),
                       finished=sum(1 for t in sched.launched
                                    if sched.states.get(t) == 'TASK_FINISHED'),
                       running=sum(1 for t in sched.launched
                                   if sched.states.get(t) == 'TASK_RUNNING'),
                       reconciled=len(sched.reconciled),
                       reconciled_states=dict(sched.reconciled_states),
                       offers_seen=sched.offers_seen,
                       errors=sched.errors[:5], elapsed_s=round(time.time() - t0, 2))
        print(json.dumps(summary), flush=True)
        if hold:
            while True:
                time.sleep(3600)
        os._exit(0 if ok else (code or 1))

    def watchdog():
        time.sleep(args.timeout + 15)
        if args.hold and summary.get('step') == 'holding':
            os._exit(0)
        summary['watchdog'] = True
        emit(False, 'hard-timeout', 3)
    threading.Thread(target=watchdog, daemon=True).start()

    master = args.master
    if master.startswith('zk://'):
        try:
            master = resolve_zk(master, min(30, args.timeout))
            summary['resolved_master'] = master
        except Exception as e:  # noqa
            sched.errors.append('zk: %r' % e)
            emit(False, 'zk-detect')
    elif ':' not in master:
        master += ':5050'

    framework = mesos_pb2.FrameworkInfo(user=args.user, name=args.name,
                                        failover_timeout=args.failover_timeout,
                                        hostname='127.0.0.1')
    if args.framework_id:
        framework.id.value = args.framework_id
    driver = PesosSchedulerDriver(sched, framework, master)
    driver.start()
    summary['libprocess_pid'] = str(driver.scheduler_process.pid)

    def left():
        return max(0.1, deadline - time.time())

    if not sched.registered_ev.wait(left()):
        driver.stop()
        emit(False, 'register')
    if args.tasks and not sched.finished.wait(left()) or sched.errors:
        driver.stop()
        emit(False, 'tasks')

    with sched.lock:
        sched.reconciling = True
    rec = internal.ReconcileTasksMessage()
    rec.framework_id.value = sched.framework_id
    for tid in sched.launched + sched.adopted:
        st = rec.statuses.add()
        st.task_id.value = tid
        st.state = mesos_pb2.TASK_RUNNING  # required field in this proto; ignored by master
        if tid in sched.agents:
            st.slave_id.value = sched.agents[tid]
    proc = driver.scheduler_process
    driver.context.dispatch(proc.pid, 'send', proc.master, rec)
    if not sched.reconcile_done.wait(min(left(), 30)) or sched.errors:
        driver.stop()
        emit(False, 'reconcile')
    wrong = ['%s: %s' % (t, s) for t, s in sorted(sched.reconciled_states.items())
             if t in sched.adopted and s != sched.goal]
    if wrong:
        sched.errors.append('adopted tasks not %s: %s' % (sched.goal, ', '.join(wrong)))
        driver.stop()
        emit(False, 'reconcile')
    if args.hold:
        emit(True, 'holding', hold=True)

    # stop(failover=False) sends UnregisterFrameworkMessage (fire-and-forget).
    driver.stop()
    time.sleep(1.0)
    summary['unregister_sent'] = True
    emit(True, 'done')


if __name__ == '__main__':
    main()
